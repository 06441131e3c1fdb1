# piivault operator: `piivault keys bootstrap`, `keys rotate`, `keys retire`,
# `keys replay-erasures --rewrap-retired` (and everything the app policy allows,
# attach both). No delete, no export, no backup of the key, no other mount.
path "transit/keys/piivault-kek" {
  capabilities = ["create", "read", "update"]
}

path "transit/keys/piivault-kek/rotate" {
  capabilities = ["update"]
}

path "transit/keys/piivault-kek/config" {
  capabilities = ["update"]
}

# bootstrap mounts Transit if it is missing.
path "sys/mounts" {
  capabilities = ["read"]
}

path "sys/mounts/transit" {
  capabilities = ["create", "update"]
}

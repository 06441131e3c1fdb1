# piivault application (API workers, sequencer, jobs runner, extract worker).
# The KEK only: wrap, unwrap and rewrap data keys, read the key's versions.
# `update` but never `create` on encrypt: Transit would create a key on a mistyped
# name (upsert); here that request is refused (tests/ops/test_vault_policies.py).
# Mount `transit` and key `piivault-kek` are the defaults of PIIVAULT_TRANSIT_MOUNT/_KEY.
path "transit/encrypt/piivault-kek" {
  capabilities = ["update"]
}

path "transit/decrypt/piivault-kek" {
  capabilities = ["update"]
}

path "transit/rewrap/piivault-kek" {
  capabilities = ["update"]
}

path "transit/keys/piivault-kek" {
  capabilities = ["read"]
}

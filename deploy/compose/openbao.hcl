# OpenBao in server mode for deploy/compose.yaml: integrated (raft) storage on a volume.
# TLS is off on the Compose network only; in production terminate TLS here
# (tls_cert_file / tls_key_file) and set PIIVAULT_VAULT_ADDR=https://... and PIIVAULT_VAULT_CACERT.
storage "raft" {
  path    = "/openbao/data"
  node_id = "bao-1"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

api_addr     = "http://openbao:8200"
cluster_addr = "http://openbao:8201"
ui           = false

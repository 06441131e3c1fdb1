#!/bin/sh
# Random passwords, the database URLs that carry them and the metrics token, as files under
# deploy/compose/secrets/ (mode 0600; .gitignore keeps them out of the repository).
# The OpenBao AppRole files are written after OpenBao is initialized (deploy/README.md).
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
for name in postgres_password pg_migrate_password pg_app_password pg_sequencer_password metrics_token; do
  [ -s "secrets/$name" ] || random > "secrets/$name"
done
for role in migrate app sequencer; do
  printf 'postgresql+psycopg://piivault_%s:%s@postgres:5432/piivault\n' \
    "$role" "$(cat "secrets/pg_${role}_password")" > "secrets/database_url_$role"
done
for name in vault_app_role_id vault_app_secret_id vault_operator_role_id vault_operator_secret_id; do
  [ -e "secrets/$name" ] || : > "secrets/$name"
done
echo "secrets written to $(pwd)/secrets"

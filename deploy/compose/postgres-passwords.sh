#!/bin/sh
# Runs once in the postgres container's first start, after 10-roles.sql: the login roles'
# passwords from the Compose secrets (never from the environment or this file).
set -eu
for role in migrate app sequencer; do
  password="$(cat "/run/secrets/pg_${role}_password")"
  psql -v ON_ERROR_STOP=1 -U postgres -d "$POSTGRES_DB" \
    -v role="piivault_${role}" -v password="$password" \
    -c "ALTER ROLE :\"role\" PASSWORD :'password'"
done

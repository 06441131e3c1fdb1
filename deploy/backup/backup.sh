#!/bin/sh
# Back up piivault's PostgreSQL database: one pg_dump archive (custom format, compressed).
#
#   deploy/backup/backup.sh /backups/piivault-$(date -u +%Y%m%dT%H%M%SZ).dump
#
# What is deliberately NOT in it, and must be backed up on its own storage: the erasure
# ledger (PIIVAULT_ERASURE_LEDGER), the audit tiles (PIIVAULT_AUDIT_TILES_DIR) and the pinned
# audit key. A restore must not be able to undo them (docs/operations.md).
set -eu
here="$(dirname "$0")"
. "$here/lib.sh"
out="${1:?usage: backup.sh OUTPUT.dump}"
dsn="$(database_dsn)"
# Written beside the target and renamed: a failed dump never leaves a file that looks whole.
tmp="$out.partial.$$"
trap 'rm -f "$tmp"' EXIT
pg_dump --format=custom --file="$tmp" --dbname="$dsn"
pg_restore --list "$tmp" >/dev/null   # the archive reads back
mv "$tmp" "$out"
trap - EXIT
echo "backup written: $out ($(wc -c <"$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1))"

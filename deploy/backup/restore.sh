#!/bin/sh
# Restore piivault's PostgreSQL database from a backup.sh archive, then bring it back to
# the state the erasure ledger and the audit tiles prove (docs/operations.md, "Restoring a
# database backup"). Stop the API, sequencer, jobs and extract worker first.
#
#   deploy/backup/restore.sh BACKUP.dump [--rewrap-retired] [--checkpoint SAVED_NOTE]...
#
# 1. pg_restore in one transaction (a broken archive changes nothing);
# 2. piivault keys replay-erasures: re-shred every subject erased since the backup
#    (--rewrap-retired: the backup predates `keys retire`; needs the operator's Vault policy);
# 3. piivault audit restore-tail, when PIIVAULT_AUDIT_TILES_DIR is set: the published tail;
# 4. piivault audit verify (with any checkpoint notes an auditor saved);
# 5. piivault check: what the service checks at start. Then start the service.
# Exits non-zero at the first step that fails; nothing after it runs.
set -eu
here="$(dirname "$0")"
. "$here/lib.sh"
dump="${1:?usage: restore.sh BACKUP.dump [--rewrap-retired] [--checkpoint FILE]...}"
shift
# The options left in "$@" are those for `audit verify` (--checkpoint FILE..., each kept whole).
replay="" expect=""
for arg do
  shift
  if [ -n "$expect" ]; then
    set -- "$@" --checkpoint "$arg"
    expect=""
    continue
  fi
  case "$arg" in
    --rewrap-retired) replay="--rewrap-retired" ;;
    --checkpoint) expect="file" ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
[ -z "$expect" ] || { echo "--checkpoint needs a file" >&2; exit 2; }
piivault="${PIIVAULT_CLI:-piivault}"
dsn="$(database_dsn)"

echo "1/5 restoring the database from $dump"
pg_restore --list "$dump" >/dev/null
pg_restore --clean --if-exists --single-transaction --exit-on-error --dbname="$dsn" "$dump"
echo "2/5 replaying erasures from the ledger"
$piivault keys replay-erasures ${replay:+"$replay"}
if [ -n "${PIIVAULT_AUDIT_TILES_DIR:-}" ]; then
  echo "3/5 restoring the audit log's tail from $PIIVAULT_AUDIT_TILES_DIR"
  $piivault audit restore-tail --from "$PIIVAULT_AUDIT_TILES_DIR"
else
  echo "3/5 no PIIVAULT_AUDIT_TILES_DIR: the audit log stays the backup's (events after it are lost)"
fi
echo "4/5 verifying the audit log"
$piivault audit verify "$@"
echo "5/5 checking the service can start"
$piivault check
echo "restore done: start the service"

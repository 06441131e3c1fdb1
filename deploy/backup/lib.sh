# shellcheck shell=sh
# Sourced by backup.sh and restore.sh: the database as libpq sees it.
# PIIVAULT_DATABASE_URL (or the file PIIVAULT_DATABASE_URL_FILE names) is the SQLAlchemy URL the
# application uses; run these scripts with the owner's (or a superuser's) URL, not the app's role.
database_dsn() {
  url="${PIIVAULT_DATABASE_URL:-}"
  if [ -z "$url" ] && [ -n "${PIIVAULT_DATABASE_URL_FILE:-}" ]; then
    url="$(cat "$PIIVAULT_DATABASE_URL_FILE")"
  fi
  case "$url" in
    postgresql://* | postgresql+*://*) ;;
    *) echo "PIIVAULT_DATABASE_URL(_FILE) must name a PostgreSQL database" >&2; return 2 ;;
  esac
  # postgresql+psycopg://… is SQLAlchemy's spelling; libpq wants postgresql://…
  printf '%s\n' "$url" | sed 's|^postgresql+[a-z0-9]*://|postgresql://|'
}

#!/usr/bin/env bash
# The service with demo data on the embedded default (SQLite, in-process tasks):
# no servers to install. Open http://127.0.0.1:8000/ when it says so.
# Usage: scripts/demo.sh [--reset] ; PORT=8001 scripts/demo.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv ""
export MDM_VAR_DIR="${MDM_VAR_DIR:-$ROOT/var/demo}"
if [ "${1:-}" = "--reset" ]; then rm -rf "$MDM_VAR_DIR"; fi
mkdir -p "$MDM_VAR_DIR"
unset DATABASE_URL REDIS_URL
PORT="${PORT:-8000}"

log "Migrating the embedded database ($MDM_VAR_DIR)"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py collectstatic --noinput -v 0
log "Loading demo data"
"$PY" manage.py load_demo --base-url "http://127.0.0.1:$PORT"
cat <<MSG

  Service:     http://127.0.0.1:$PORT/
  Stewards:    http://127.0.0.1:$PORT/steward/          (steward / demo-steward-2026)
  API docs:    http://127.0.0.1:$PORT/api/docs/      (log in at /admin/ first)
  Admin:       http://127.0.0.1:$PORT/admin/

MSG
log "Serving on 127.0.0.1:$PORT (Ctrl-C stops)"
exec "$VENV/bin/gunicorn" mdm.wsgi --bind "127.0.0.1:$PORT" --workers 2 --access-logfile - --log-level warning

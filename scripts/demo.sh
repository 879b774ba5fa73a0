#!/usr/bin/env bash
# The service with demo data on the embedded default (SQLite, in-process tasks):
# no servers to install. Local sandboxes play the CRM (Salesforce), PSA (Kantata) and
# ERP (NetSuite): approved golden records are pushed to them, the demo steward merges one
# duplicate all three already hold, and the merge is pushed too before the service starts;
# later changes follow in the background.
# Usage: scripts/demo.sh [--reset] ; PORT=8001 scripts/demo.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv ""
export MDM_VAR_DIR="${MDM_VAR_DIR:-$ROOT/var/demo}"
if [ "${1:-}" = "--reset" ]; then rm -rf "$MDM_VAR_DIR"; fi
mkdir -p "$MDM_VAR_DIR/sandbox"
unset DATABASE_URL REDIS_URL
PORT="${PORT:-8000}"
SANDBOX_DIR="$MDM_VAR_DIR/sandbox"
export MDM_CRM_CA_BUNDLE="$SANDBOX_DIR/tls/ca.pem"

# Deliver in this process until nothing is due; messages that wait for a steward's
# approval or for a record the target rejected stay behind.
sync_until_quiet() {
  # Until what can be delivered is: retries after the sandboxes' rate limits included.
  "$PY" manage.py sync_outbox --settle 15 >>"$MDM_VAR_DIR/sync.log" 2>&1
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

log "Starting the CRM, PSA and ERP sandboxes"
declare -A SANDBOX_PORT=([crm]=8711 [psa]=8712 [erp]=8713)
for kind in crm psa erp; do
  "$PY" manage.py run_sandbox "$kind" --port "${SANDBOX_PORT[$kind]}" --quiet \
    --state "$SANDBOX_DIR/$kind.sqlite3" --tls-dir "$SANDBOX_DIR/tls" >"$SANDBOX_DIR/$kind.log" 2>&1 &
  pids+=($!)
done
for kind in crm psa erp; do
  for _ in $(seq 100); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" \
      "${SANDBOX_PORT[$kind]}" 2>/dev/null && break
    sleep 0.1
  done
done

log "Migrating the embedded database ($MDM_VAR_DIR)"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py collectstatic --noinput -v 0
log "Loading demo data"
"$PY" manage.py load_demo --base-url "http://127.0.0.1:$PORT"
"$PY" manage.py prepare_demo_sync
log "Pushing approved golden records to the sandboxes"
sync_until_quiet
log "The demo steward merges a duplicate the targets already hold"
MERGE_NOTE=$("$PY" manage.py load_demo --merge-duplicate)
echo "$MERGE_NOTE"
sync_until_quiet
log "Keeping the sandboxes in step (in the background)"
"$PY" manage.py sync_outbox --loop 2 >>"$MDM_VAR_DIR/sync.log" 2>&1 &
pids+=($!)
cat <<MSG

  Service:     http://127.0.0.1:$PORT/
  Stewards:    http://127.0.0.1:$PORT/steward/          (steward / demo-steward-2026)
  API docs:    http://127.0.0.1:$PORT/api/docs/      (log in first)
  Admin:       http://127.0.0.1:$PORT/admin/           (admin / demo-steward-2026)
  Sync:        .venv/bin/python manage.py sync_report   (with MDM_VAR_DIR=$MDM_VAR_DIR)
  Sandboxes:   https://127.0.0.1:8711/_sandbox/records.html (CRM, test CA)
               http://127.0.0.1:8712/_sandbox/records.html  (PSA)
               http://127.0.0.1:8713/_sandbox/records.html  (ERP)
  The merge:   $MERGE_NOTE

MSG
log "Serving on 127.0.0.1:$PORT (Ctrl-C stops everything)"
"$VENV/bin/gunicorn" mdm.wsgi --bind "127.0.0.1:$PORT" --workers 2 --access-logfile - --log-level warning

#!/usr/bin/env bash
# The whole test suite against real, throwaway PostgreSQL and Redis servers.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_packages postgresql redis-server redis-tools chromium
ensure_venv dev
log "Lint (ruff)"
"$VENV/bin/ruff" check --quiet .
"$VENV/bin/ruff" format --check --quiet .
trap 'stop_redis; stop_postgres' EXIT
start_postgres
start_redis
"$PY" -m pytest "$@"

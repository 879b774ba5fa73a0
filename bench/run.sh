#!/usr/bin/env bash
# Benchmarks against a throwaway PostgreSQL (and Redis); figures go to docs/BENCHMARKS.md.
# Usage: bench/run.sh ingest_cli [--rows N] | matching [--records N ...] | incremental [--companies N]
#        (febrl4 needs no database: .venv/bin/python bench/febrl4.py, after pip install -e ".[bench]")
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

ensure_packages postgresql redis-server redis-tools time
ensure_venv dev
trap 'stop_redis; stop_postgres' EXIT
start_postgres
start_redis
"$PY" manage.py migrate --noinput -v 0
which="${1:-ingest_cli}"
shift || true
"$PY" "bench/$which.py" "$@"

# Shared shell helpers: system packages, the virtualenv, throwaway PostgreSQL and Redis.
# Sourced by scripts/test.sh, scripts/demo.sh and bench/run.sh.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MDM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Install Debian packages that are missing (needs root or sudo; CI runs as root).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "Installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Create the virtualenv and install the pinned project with the given extras ("" or "dev"),
# again only when pyproject.toml changed.
ensure_venv() {
  local extras="${1:-}" target="$ROOT"
  [ -n "$extras" ] && target="$ROOT[$extras]"
  local stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras:-base}"
  if [ ! -x "$PY" ]; then
    log "Creating virtualenv in $VENV"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    log "Installing Python packages (pinned in pyproject.toml)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -U pip >/dev/null 2>&1
    if ! "$VENV/bin/pip" install -q --disable-pip-version-check -e "$target" >"$VENV/install.log" 2>&1; then
      cat "$VENV/install.log" >&2
      return 1
    fi
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
  echo "$dir"
}

# Run a command as the unprivileged 'postgres' user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Start a throwaway PostgreSQL on 127.0.0.1; exports DATABASE_URL and MDM_PG_DIR.
start_postgres() {
  local bin port
  bin=$(pg_bin)
  port=$(free_port)
  MDM_PG_DIR=$(mktemp -d /tmp/mdm-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$MDM_PG_DIR"
  as_pg "$bin/initdb" -D "$MDM_PG_DIR/data" -U mdm --auth=trust -E UTF8 --no-locale >/dev/null
  as_pg "$bin/pg_ctl" -D "$MDM_PG_DIR/data" -l "$MDM_PG_DIR/log" -w -o \
    "-p $port -h 127.0.0.1 -k $MDM_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U mdm mdm
  export MDM_PG_DIR DATABASE_URL="postgres://mdm@127.0.0.1:$port/mdm"
  log "PostgreSQL on 127.0.0.1:$port"
}

stop_postgres() {
  [ -n "${MDM_PG_DIR:-}" ] || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$MDM_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$MDM_PG_DIR"
}

# Start a throwaway Redis on 127.0.0.1; exports REDIS_URL and MDM_REDIS_DIR.
start_redis() {
  local port
  port=$(free_port)
  MDM_REDIS_DIR=$(mktemp -d /tmp/mdm-redis.XXXXXX)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$MDM_REDIS_DIR" --pidfile "$MDM_REDIS_DIR/redis.pid" --logfile "$MDM_REDIS_DIR/log"
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  export MDM_REDIS_DIR REDIS_URL="redis://127.0.0.1:$port/0"
  log "Redis on 127.0.0.1:$port"
}

stop_redis() {
  [ -n "${MDM_REDIS_DIR:-}" ] || return 0
  [ -f "$MDM_REDIS_DIR/redis.pid" ] && kill "$(cat "$MDM_REDIS_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$MDM_REDIS_DIR"
}

#!/usr/bin/env bash
# A private PostgreSQL cluster for FerretDB's postgresql handler (FERRETDB_BACKEND=postgresql):
# data, config and a Unix socket under $INFRA_STATE/postgres, no TCP listener at all (so no port to
# collide with a second stack), trust auth on that socket only (its directory is 0700), superuser
# `ferretdb`, database `ferretdb`. Prints nothing on stdout; ferretdb.sh builds the URL (pg_url below).
# Runs as the `postgres` system user when invoked as root (PostgreSQL refuses to run as root).
# Test settings, not durable: fsync and synchronous_commit are off (the state dir is disposable).
# Usage: postgres.sh {install|start|stop|url}
set -euo pipefail
SVC=postgres
source "$(dirname "$0")/lib.sh"

DIR="$INFRA_STATE/postgres"
DATA="$DIR/data"
SOCK="$DIR/sock"
PIDF="$DIR/postgres.pid"
PG_PORT=${PG_PORT:-5432} # only names the socket file (.s.PGSQL.<port>); nothing listens on TCP

# Debian installs the server binaries under /usr/lib/postgresql/<major>/bin (not always on PATH).
pg_bin() {
  local d
  if command -v initdb >/dev/null && command -v postgres >/dev/null; then dirname "$(readlink -f "$(command -v postgres)")"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return; }
  done
  return 1
}

install() {
  local bin
  if bin=$(pg_bin); then log "PostgreSQL already installed ($("$bin/postgres" --version))"; return; fi
  log "apt-get install postgresql"
  [ "$(id -u)" = 0 ] || die "installing PostgreSQL needs root"
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || logged "$INFRA_CACHE/apt.log" timeout 300 apt-get update -q
  # The Debian package's post-install creates a default cluster and starts it through invoke-rc.d;
  # we never use it, so a temporary policy-rc.d (when there is none) keeps it from starting.
  local policy=/usr/sbin/policy-rc.d ours=0
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1; }
  local rc=0
  DEBIAN_FRONTEND=noninteractive logged "$INFRA_CACHE/apt.log" \
    timeout 600 apt-get install -y -q --no-install-recommends postgresql || rc=$?
  ((ours)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get install postgresql failed (log: $INFRA_CACHE/apt.log)"
  bin=$(pg_bin) || die "postgresql installed but initdb/postgres not found"
  log "installed $("$bin/postgres" --version)"
}

# as_owner CMD... — run as the cluster's owner: `postgres` when we are root, else ourselves.
# setpriv execs CMD, so a server started through it keeps the pid start_bg recorded.
OWNER=()
[ "$(id -u)" = 0 ] && OWNER=(setpriv --reuid=postgres --regid=postgres --init-groups --)
as_owner() { "${OWNER[@]}" "$@"; }

init() {
  [ -s "$DATA/PG_VERSION" ] && return
  local bin=$1
  log "initdb $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA" "$SOCK"
  chmod 700 "$DATA" "$SOCK"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR" "$DATA" "$SOCK"
  logged "$DIR/initdb.log" timeout 120 "${OWNER[@]}" "$bin/initdb" -D "$DATA" -U ferretdb --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    || die "initdb failed (log: $DIR/initdb.log)"
  cat >>"$DATA/postgresql.conf" <<CONF
# scripts/infra/postgres.sh: private test cluster, Unix socket only, not durable
listen_addresses = ''
unix_socket_directories = '$SOCK'
unix_socket_permissions = 0700
port = $PG_PORT
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
CONF
  # trust on the local socket only (its directory is private); no host lines, so no TCP logins.
  echo "local all all trust" >"$DATA/pg_hba.conf"
}

ready() { as_owner "$1/pg_isready" -q -h "$SOCK" -p "$PG_PORT" -U ferretdb -d postgres; }

start() {
  local bin
  bin=$(pg_bin) || with_lock postgres install
  bin=$(pg_bin) || die "PostgreSQL not installed"
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  mkdir -p "$DIR"
  init "$bin"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR" && touch "$DIR/postgres.log" && chown postgres:postgres "$DIR/postgres.log"
  log "starting (socket $SOCK)"
  start_bg "$PIDF" "$DIR/postgres.log" "${OWNER[@]}" "$bin/postgres" -D "$DATA"
  wait_for "${POSTGRES_START_TIMEOUT:-60}" "$PIDF" "$DIR/postgres.log" ready "$bin" || die "start failed (log: $DIR/postgres.log)"
  if ! as_owner "$bin/psql" -h "$SOCK" -p "$PG_PORT" -U ferretdb -d postgres -Atqc "select 1 from pg_database where datname = 'ferretdb'" | grep -q 1; then
    as_owner "$bin/psql" -h "$SOCK" -p "$PG_PORT" -U ferretdb -d postgres -qc 'create database ferretdb' >/dev/null
  fi
  log "ready (pid $(cat "$PIDF"))"
}

# Fast shutdown (SIGINT: roll back open transactions, disconnect clients), then stop_pid's bounded
# SIGTERM/SIGKILL if it lingers.
stop() {
  if pid_alive "$PIDF"; then
    local pid deadline=$((SECONDS + 20))
    pid=$(cat "$PIDF")
    kill -INT "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDF"; log "stopped"; return 0; }
  fi
  stop_pid "$PIDF" 10
}

case "${1:-}" in
  install) with_lock postgres install ;;
  start) start ;;
  stop) stop ;;
  url) echo "postgres://ferretdb@/ferretdb?host=$SOCK&port=$PG_PORT" ;;
  *) echo "usage: $0 {install|start|stop|url}" >&2; exit 2 ;;
esac

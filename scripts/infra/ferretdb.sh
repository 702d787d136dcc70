#!/usr/bin/env bash
# FerretDB (embedded) on loopback — a MongoDB wire-compatible server for tests.
# FERRETDB_BACKEND=postgresql (default) stores in a private PostgreSQL cluster (postgres.sh, started
# and stopped with it); FERRETDB_BACKEND=sqlite in SQLite files under the state dir.
# FERRETDB_SERIALIZE (see ferretdb/main.go): all (default: one request at a time) or writes
# (update/delete/findAndModify ordered per collection, reads and inserts concurrent).
# Numbers behind the defaults: scripts/infra/README.md, bench/README.md (issue 13).
# Usage: ferretdb.sh {install|start|stop}
set -euo pipefail
SVC=ferretdb
source "$(dirname "$0")/lib.sh"

FERRETDB_PORT=${FERRETDB_PORT:-27018}
FERRETDB_BACKEND=${FERRETDB_BACKEND:-postgresql}
case $FERRETDB_BACKEND in
  postgresql) FERRETDB_SERIALIZE=${FERRETDB_SERIALIZE:-all} ;;
  sqlite) FERRETDB_SERIALIZE=${FERRETDB_SERIALIZE:-all} ;;
  *) die "FERRETDB_BACKEND=$FERRETDB_BACKEND: want postgresql or sqlite" ;;
esac
SRC="$INFRA_DIR/ferretdb"
# Binary name carries a hash of the sources, so a changed main.go/go.mod triggers a rebuild.
BIN="$GOBIN/chat-ferretdb-$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-12)"
DIR="$INFRA_STATE/ferretdb"
PIDF="$DIR/ferretdb.pid"

install() {
  [ "$FERRETDB_BACKEND" = postgresql ] && "$INFRA_DIR/postgres.sh" install
  [ -x "$BIN" ] && { log "already built: $BIN"; return; }
  log "building FerretDB wrapper (first build compiles modernc sqlite: ~1-2 min)"
  mkdir -p "$GOBIN"
  (cd "$SRC" && logged "$INFRA_CACHE/ferretdb-build.log" \
    timeout 900 go build -trimpath -o "$BIN.tmp.$$" .)
  mv "$BIN.tmp.$$" "$BIN"
  for f in "$GOBIN"/chat-ferretdb-*; do [ "$f" = "$BIN" ] || rm -f "$f"; done  # builds of older sources
  log "built $BIN"
}

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  [ -x "$BIN" ] || with_lock ferretdb install
  ensure_port_free "$FERRETDB_PORT"
  mkdir -p "$DIR/data"
  local backend=(-handler sqlite -data-dir "$DIR/data")
  if [ "$FERRETDB_BACKEND" = postgresql ]; then
    "$INFRA_DIR/postgres.sh" start
    backend=(-handler postgresql -postgresql-url "$("$INFRA_DIR/postgres.sh" url)")
  fi
  log "starting on 127.0.0.1:$FERRETDB_PORT ($FERRETDB_BACKEND, serialize $FERRETDB_SERIALIZE)"
  start_bg "$PIDF" "$DIR/ferretdb.log" "$BIN" -port "$FERRETDB_PORT" -serialize "$FERRETDB_SERIALIZE" "${backend[@]}"
  wait_for "${FERRETDB_START_TIMEOUT:-60}" "$PIDF" "$DIR/ferretdb.log" port_open "$FERRETDB_PORT" \
    || die "start failed (log: $DIR/ferretdb.log)"
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock ferretdb install ;;
  start) start ;;
  # Whichever backend it ran on: stopping a cluster that isn't running is a no-op.
  stop) stop_pid "$PIDF" 20; "$INFRA_DIR/postgres.sh" stop ;;
  *) echo "usage: $0 {install|start|stop}" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# FerretDB (embedded, SQLite backend) on loopback — a MongoDB wire-compatible server for tests.
# Usage: ferretdb.sh {install|start|stop}
set -euo pipefail
SVC=ferretdb
source "$(dirname "$0")/lib.sh"

FERRETDB_PORT=${FERRETDB_PORT:-27018}
SRC="$INFRA_DIR/ferretdb"
# Binary name carries a hash of the sources, so a changed main.go/go.mod triggers a rebuild.
BIN="$GOBIN/chat-ferretdb-$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -c1-12)"
DIR="$INFRA_STATE/ferretdb"
PIDF="$DIR/ferretdb.pid"

install() {
  [ -x "$BIN" ] && { log "already built: $BIN"; return; }
  log "building FerretDB wrapper (first build compiles modernc sqlite: ~1-2 min)"
  mkdir -p "$GOBIN"
  (cd "$SRC" && logged "$INFRA_CACHE/ferretdb-build.log" \
    timeout 900 go build -trimpath -tags ferretdb_no_postgresql -o "$BIN.tmp.$$" .)
  mv "$BIN.tmp.$$" "$BIN"
  for f in "$GOBIN"/chat-ferretdb-*; do [ "$f" = "$BIN" ] || rm -f "$f"; done  # builds of older sources
  log "built $BIN"
}

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  [ -x "$BIN" ] || with_lock ferretdb install
  ensure_port_free "$FERRETDB_PORT"
  mkdir -p "$DIR/data"
  log "starting on 127.0.0.1:$FERRETDB_PORT"
  start_bg "$PIDF" "$DIR/ferretdb.log" "$BIN" -port "$FERRETDB_PORT" -data-dir "$DIR/data"
  wait_for "${FERRETDB_START_TIMEOUT:-60}" "$PIDF" "$DIR/ferretdb.log" port_open "$FERRETDB_PORT" \
    || die "start failed (log: $DIR/ferretdb.log)"
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock ferretdb install ;;
  start) start ;;
  stop) stop_pid "$PIDF" 20 ;;
  *) echo "usage: $0 {install|start|stop}" >&2; exit 2 ;;
esac

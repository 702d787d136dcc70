#!/usr/bin/env bash
# Centrifugo v6 (Apache-2.0), a peer for bench/peers.ts: memory engine, no history, clients may
# subscribe and publish in channels without a namespace, HS256 connection tokens.
# Usage: centrifugo.sh {install|path|start|stop}
#   path   installs if needed, then prints the binary's path on stdout (bench/peers.ts uses this)
#   start  runs it on 127.0.0.1:$CENTRIFUGO_PORT with the bench config written to $INFRA_STATE
# CENTRIFUGO_TOKEN_HMAC_SECRET signs/verifies client JWTs; the default is for local benches only.
set -euo pipefail
SVC=centrifugo
source "$(dirname "$0")/lib.sh"

CENTRIFUGO_VERSION=${CENTRIFUGO_VERSION:-v6.9.1}
CENTRIFUGO_PORT=${CENTRIFUGO_PORT:-18000}
CENTRIFUGO_TOKEN_HMAC_SECRET=${CENTRIFUGO_TOKEN_HMAC_SECRET:-chatlocal-centrifugo-bench-secret}
BIN="$GOBIN/centrifugo-$CENTRIFUGO_VERSION"
DIR="$INFRA_STATE/centrifugo"
PIDF="$DIR/centrifugo.pid"

# A few minutes on 2 cores the first time.
install() { go_install_versioned "$BIN" "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION" 1200; }

# The settings bench/lib/peers/servers.ts writes for its own instances.
write_config() {
  cat >"$DIR/config.json" <<JSON
{
  "http_server": { "address": "127.0.0.1", "port": $CENTRIFUGO_PORT },
  "log": { "level": "warn" },
  "engine": { "type": "memory" },
  "health": { "enabled": true },
  "client": { "token": { "hmac_secret_key": "$CENTRIFUGO_TOKEN_HMAC_SECRET" } },
  "channel": { "without_namespace": { "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true } }
}
JSON
}

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  [ -x "$BIN" ] || with_lock centrifugo install
  ensure_port_free "$CENTRIFUGO_PORT"
  mkdir -p "$DIR"
  write_config
  log "starting on 127.0.0.1:$CENTRIFUGO_PORT"
  start_bg "$PIDF" "$DIR/centrifugo.log" "$BIN" --config "$DIR/config.json"
  wait_for "${CENTRIFUGO_START_TIMEOUT:-30}" "$PIDF" "$DIR/centrifugo.log" port_open "$CENTRIFUGO_PORT" \
    || die "start failed (log: $DIR/centrifugo.log)"
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock centrifugo install ;;
  path) [ -x "$BIN" ] || with_lock centrifugo install; echo "$BIN" ;;
  start) start ;;
  stop) stop_pid "$PIDF" 20 ;;
  *) echo "usage: $0 {install|path|start|stop}" >&2; exit 2 ;;
esac

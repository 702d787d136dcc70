#!/usr/bin/env bash
# Versity S3 Gateway (Apache-2.0) with the posix backend on loopback — S3 for tests.
# Usage: versitygw.sh {install|start|stop}
# S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY become the gateway's root credentials; the defaults
# below are for local tests only — never use them anywhere reachable.
set -euo pipefail
SVC=versitygw
source "$(dirname "$0")/lib.sh"

VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.7.0}
S3_PORT=${S3_PORT:-17070}
S3_ACCESS_KEY_ID=${S3_ACCESS_KEY_ID:-chatlocal}
S3_SECRET_ACCESS_KEY=${S3_SECRET_ACCESS_KEY:-chatlocalsecret}
S3_REGION=${S3_REGION:-us-east-1}
S3_BUCKET=${S3_BUCKET-chat}  # created on start; set S3_BUCKET= to skip
BIN="$GOBIN/versitygw-$VERSITYGW_VERSION"
DIR="$INFRA_STATE/versitygw"
PIDF="$DIR/versitygw.pid"

install() { go_install_versioned "$BIN" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" 900; }

# PUT /bucket with SigV4 via curl: 200 = created, 409 = already ours.
ensure_bucket() {
  [ -n "$S3_BUCKET" ] || return 0
  local empty_sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY_ID:$S3_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: $empty_sha") || true
  case "$code" in
    200) log "created bucket $S3_BUCKET" ;;
    409) ;;
    *) die "creating bucket $S3_BUCKET failed (HTTP $code)" ;;
  esac
}

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; ensure_bucket; return; fi
  [ -x "$BIN" ] || with_lock versitygw install
  ensure_port_free "$S3_PORT"
  mkdir -p "$DIR/data"
  log "starting on 127.0.0.1:$S3_PORT"
  ROOT_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" ROOT_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" \
    start_bg "$PIDF" "$DIR/versitygw.log" \
    "$BIN" --port "127.0.0.1:$S3_PORT" --region "$S3_REGION" --quiet posix "$DIR/data"
  wait_for "${VERSITYGW_START_TIMEOUT:-60}" "$PIDF" "$DIR/versitygw.log" port_open "$S3_PORT" \
    || die "start failed (log: $DIR/versitygw.log)"
  ensure_bucket
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock versitygw install ;;
  start) start ;;
  stop) stop_pid "$PIDF" 20 ;;
  *) echo "usage: $0 {install|start|stop}" >&2; exit 2 ;;
esac

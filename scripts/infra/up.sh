#!/usr/bin/env bash
# Install (cached) and start the test infrastructure, then print env exports on stdout:
#   eval "$(scripts/infra/up.sh)"            # kafka, ferretdb, versitygw
#   eval "$(scripts/infra/up.sh kafka)"      # a subset
# Progress goes to stderr; stdout carries only the export lines. nginx is separate (nginx.sh).
set -euo pipefail
SVC=up
source "$(dirname "$0")/lib.sh"

services=("$@")
((${#services[@]})) || services=(kafka ferretdb versitygw)

# Services are independent, so install+start them in parallel (Go's module/build cache is lock-safe).
declare -A pids
for s in "${services[@]}"; do
  [ -x "$INFRA_DIR/$s.sh" ] || die "unknown service: $s"
  ( "$INFRA_DIR/$s.sh" install && "$INFRA_DIR/$s.sh" start ) >&2 &
  pids[$s]=$!
done
failed=()
for s in "${!pids[@]}"; do wait "${pids[$s]}" || failed+=("$s"); done
((${#failed[@]} == 0)) || die "failed: ${failed[*]} (logs under $INFRA_STATE)"

for s in "${services[@]}"; do
  case $s in
    kafka) echo "export KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-19092}" ;;
    ferretdb) echo "export MONGODB_URL=mongodb://127.0.0.1:${FERRETDB_PORT:-27018}/chat" ;;
    versitygw) cat <<ENV
export S3_ENDPOINT=http://127.0.0.1:${S3_PORT:-17070}
export S3_BUCKET=${S3_BUCKET-chat}
export S3_ACCESS_KEY_ID=${S3_ACCESS_KEY_ID:-chatlocal}
export S3_SECRET_ACCESS_KEY=${S3_SECRET_ACCESS_KEY:-chatlocalsecret}
export S3_FORCE_PATH_STYLE=true
export S3_REGION=${S3_REGION:-us-east-1}
ENV
    ;;
  esac
done
log "up: ${services[*]}"

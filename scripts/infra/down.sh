#!/usr/bin/env bash
# Stop every infra service started by up.sh / nginx.sh (bounded waits, SIGKILL as a last resort).
# Data stays in $INFRA_STATE; `rm -rf "${INFRA_STATE:-/tmp/chat-infra}"` afterwards for a clean slate.
set -euo pipefail
SVC=down
source "$(dirname "$0")/lib.sh"

pids=()
for s in nginx versitygw ferretdb kafka; do
  "$INFRA_DIR/$s.sh" stop &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc

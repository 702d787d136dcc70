#!/usr/bin/env bash
# The benchmark scenarios recorded in bench/README.md, run one after another.
#   bench/scenarios.sh standalone   # fresh standalone server per scenario
#   bench/scenarios.sh memory       # server RSS with N idle sockets
#   bench/scenarios.sh lifecycle    # sends + edits + reacts vs plain sends, back to back (issue 9)
#   bench/scenarios.sh dist         # the distributed stack behind nginx; start it first:
#       eval "$(LIMIT_RATE_PER_SEC=100000 LIMIT_RATE_BURST=100000 INFRA_STATE=/tmp/chat-infra-bench scripts/dist.sh start)"
#     (DIST_PORT_OFFSET=100 moves the whole topology by 100 ports when the default ones are taken)
# Results are appended as JSON lines to bench/results/<suite>.jsonl (or $OUT).
# Before each scenario it waits (at most QUIET_WAIT s) for the machine to be under QUIET_PCT% busy,
# since other work on a 2-core box skews every number; the JSON records what was competing.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:?usage: bench/scenarios.sh standalone|memory|lifecycle|dist [scenario-label-filter]}
filter=${2:-}
OUT=${OUT:-bench/results/$suite.jsonl}
QUIET_PCT=${QUIET_PCT:-25}
QUIET_WAIT=${QUIET_WAIT:-300}
mkdir -p "$(dirname "$OUT")"

busy_pct() { # whole-machine busy % over 3 s, from /proc/stat
  local a b c d e f g h t1 i1 t2 i2
  read -r _ a b c d e f g h _ </proc/stat; t1=$((a + b + c + d + e + f + g + h)); i1=$((d + e))
  sleep 3
  read -r _ a b c d e f g h _ </proc/stat; t2=$((a + b + c + d + e + f + g + h)); i2=$((d + e))
  echo $((100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1 > 0 ? t2 - t1 : 1)))
}

wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) p
  while ((SECONDS < deadline)); do
    p=$(busy_pct)
    ((p < QUIET_PCT)) && return 0
    echo "[scenarios] machine ${p}% busy, waiting for < ${QUIET_PCT}%" >&2
  done
  echo "[scenarios] still busy after ${QUIET_WAIT}s; running anyway (see machine_cpu in the result)" >&2
}

run() { # LABEL load.ts-ARGS...
  local label=$1; shift
  [[ -n $filter && $label != *$filter* ]] && return 0
  wait_quiet
  echo "[scenarios] $label: bun bench/load.ts $*" >&2
  bun bench/load.ts --label "$label" --json-out "$OUT" "$@" | grep -v '^{' || echo "[scenarios] $label failed" >&2
}

UNLIMITED=(--server-env LIMIT_RATE_PER_SEC=100000 --server-env LIMIT_RATE_BURST=100000)

case $suite in
  standalone)
    run sa-broadcast-1x50-r200 --teams 1 --members 50 --rate 200 --duration 30
    run sa-broadcast-1x50-r600 --teams 1 --members 50 --rate 600 --duration 30
    run sa-realistic-100x10-r500 --teams 100 --members 10 --rate 500 --dm 0.2 --duration 30
    run sa-realistic-100x10-r2000 --teams 100 --members 10 --rate 2000 --dm 0.2 --duration 30
    run sa-closed-ingest-50x2-w8 --teams 50 --members 2 --closed-loop --window 8 --duration 20 "${UNLIMITED[@]}"
    run sa-closed-fanout-1x100-w4 --teams 1 --members 100 --senders 20 --closed-loop --window 4 --duration 20 "${UNLIMITED[@]}"
    run sa-stalled-readers-1x20 --teams 1 --members 20 --rate 400 --size 3000 --stalled-readers 4 --duration 20
    run sa-ratelimit-default-10x1 --teams 10 --members 1 --closed-loop --window 1 --duration 10
    ;;
  lifecycle)
    # The sa-realistic rate with 15 % edits and 15 % reactions, then the same without them, one after
    # the other on fresh standalone servers; the ratio compares the plain sends of the two runs.
    # LIFECYCLE_ORDER=plain-first swaps the order (a drifting machine then shows up as a flipped ratio).
    since=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
    R=(--teams 100 --members 10 --rate 500 --dm 0.2 --duration 30)
    mix() { run sa-lifecycle-mix "${R[@]}" --mix edit=0.15,react=0.15; }
    plain() { run sa-lifecycle-plain "${R[@]}"; }
    if [[ ${LIFECYCLE_ORDER:-mix-first} == plain-first ]]; then plain; mix; else mix; plain; fi
    if [[ -z $filter ]]; then bun bench/lifecycle-ratio.ts "$OUT" --since "$since"; fi
    ;;
  memory)
    ulimit -n "$(ulimit -Hn)"
    for n in 2000 5000 10000; do
      run "sa-idle-$n" --teams $((n / 20)) --members 20 --rate 0 --warmup 0 --duration 10 --steps 5 --settle 5 --setup-concurrency 32
    done
    ;;
  dist)
    : "${AUTH_JWT_SECRET:?export the env printed by scripts/dist.sh start}"
    BASE=${E2E_BASE_URL:-http://127.0.0.1:8088}
    STATE=${INFRA_STATE:-/tmp/chat-infra-bench}
    pids=()
    for f in "$STATE"/dist/{relay1,relay2,controller1,controller2,management}.pid "$STATE"/nginx/nginx.pid "$STATE"/kafka/kafka.pid "$STATE"/ferretdb/ferretdb.pid; do
      [[ -s $f ]] && pids+=("$(basename "$f" .pid):$(cat "$f")")
    done
    PIDS=$(IFS=,; echo "${pids[*]}")
    O=${DIST_PORT_OFFSET:-0} # as given to scripts/dist.sh
    METRICS=$(for p in 8181 8182 9051 9052; do printf 'http://127.0.0.1:%d/v1/metrics,' $((p + O)); done)
    D=(--url "$BASE" --server-pids "$PIDS" --metrics-url "$METRICS")
    run d-broadcast-1x50-r200 "${D[@]}" --teams 1 --members 50 --rate 200 --duration 30
    run d-realistic-20x10-r200 "${D[@]}" --teams 20 --members 10 --rate 200 --dm 0.2 --duration 30
    run d-realistic-40x10-r1000 "${D[@]}" --teams 40 --members 10 --rate 1000 --dm 0.2 --duration 30
    run d-closed-ingest-50x2-w8 "${D[@]}" --teams 50 --members 2 --closed-loop --window 8 --duration 20
    run d-closed-fanout-1x100-w4 "${D[@]}" --teams 1 --members 100 --senders 20 --closed-loop --window 4 --duration 20
    run d-idle-600 "${D[@]}" --teams 30 --members 20 --rate 0 --warmup 0 --duration 10
    ;;
  *) echo "unknown suite: $suite" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The distributed topology on loopback: Kafka + FerretDB + versitygw (scripts/infra), 2 controllers,
# 2 relays, 1 management, nginx in front on :8088.
#   eval "$(scripts/dist.sh start)"   # prints the env a client needs (E2E_BASE_URL, AUTH_JWT_SECRET, ...)
#   scripts/dist.sh stop
# DIST_PORT_OFFSET=N moves every port by N, for a second stack beside one on the defaults
# (give it its own INFRA_STATE too). KAFKA_SESSION_TIMEOUT_SEC (default 30) shortens how long a killed
# controller's partitions stall (the fault suite uses 10).
set -euo pipefail
SVC=dist
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/infra/lib.sh"
DIST="$INFRA_STATE/dist"
mkdir -p "$DIST"
O=${DIST_PORT_OFFSET:-0}
export KAFKA_PORT=$((19092 + O)) KAFKA_CONTROLLER_PORT=$((19093 + O)) FERRETDB_PORT=$((27018 + O)) S3_PORT=$((17070 + O)) NGINX_PORT=$((8088 + O))
# Every port stays below the kernel's ephemeral range (32768-60999 by default): a port in it can be
# taken as the local end of any outgoing connection (a CI run lost controller2's 50752 that way).
CONTROLLER_PORTS=($((15051 + O)) $((15052 + O))) OPS_PORTS=($((9051 + O)) $((9052 + O)))
RELAY_PORTS=($((8181 + O)) $((8182 + O))) MANAGEMENT_PORT=$((8190 + O))
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "${1:-}" = start ] && for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$FERRETDB_PORT" "$S3_PORT" "$NGINX_PORT" "${CONTROLLER_PORTS[@]}" "${OPS_PORTS[@]}" "${RELAY_PORTS[@]}" "$MANAGEMENT_PORT"; do
  ((p < EPHEMERAL_LOW)) || die "DIST_PORT_OFFSET=$O puts port $p in the ephemeral range (from $EPHEMERAL_LOW); pick a smaller offset"
done
export RELAY_UPSTREAMS="127.0.0.1:${RELAY_PORTS[0]},127.0.0.1:${RELAY_PORTS[1]}" MANAGEMENT_UPSTREAMS="127.0.0.1:$MANAGEMENT_PORT"

# Dev-only secrets, generated once per state dir (never in the repo).
secret() { [ -s "$DIST/$1" ] || (umask 077 && head -c 36 /dev/urandom | base64 | tr -d '\n/+=' >"$DIST/$1"); cat "$DIST/$1"; }

start_service() { # NAME PORT ENV... -- CMD...
  local name=$1 ready_url=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  pid_alive "$DIST/$name.pid" && { log "$name already running"; return; }
  (umask 077 && printf '%s\n' "${envs[@]}" >"$DIST/$name.env") # holds dev secrets
  echo "$ready_url" >"$DIST/$name.ready"
  echo "$*" >"$DIST/$name.cmd"
  # the trailing argument marks the process as ours for pid_alive (it checks the command line)
  start_bg "$DIST/$name.pid" "$DIST/$name.log" env "${envs[@]}" "$@" "--state=$INFRA_STATE"
  wait_for 60 "$DIST/$name.pid" "$DIST/$name.log" curl -fsS "$ready_url" || die "$name did not become ready"
  log "$name ready"
}

# whole: every controller holds a Subscribe stream from every running relay. A relay is ready with one
# (readiness means it can serve); until it has all, typing and presence routed through the others can
# miss its sockets, and a test starting then would see that.
streams_whole() {
  local p n running=0 i
  for i in "${!RELAY_PORTS[@]}"; do pid_alive "$DIST/relay$((i + 1)).pid" && running=$((running + 1)); done
  for p in "${OPS_PORTS[@]}"; do
    n=$(curl -fsS "http://127.0.0.1:$p/v1/metrics" | awk '$1 == "chat_controller_relay_streams" { print $2 }') || return 1
    [ "${n:-0}" = "$running" ] || return 1
  done
}
wait_whole() {
  local deadline=$((SECONDS + 30))
  until streams_whole; do
    ((SECONDS < deadline)) || die "the relays' controller streams were not all open after 30s (logs: $DIST)"
    sleep 0.1
  done
}

start() {
  local infra_env
  infra_env=$("$ROOT/scripts/infra/up.sh")
  eval "$infra_env"
  local common=(KAFKA_BROKERS="$KAFKA_BROKERS" MONGODB_URL="$MONGODB_URL" S3_ENDPOINT="$S3_ENDPOINT" S3_BUCKET="$S3_BUCKET"
    S3_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" S3_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY" S3_FORCE_PATH_STYLE=true S3_REGION="$S3_REGION"
    AUTH_JWT_SECRET="$(secret jwt)" CONTROLLER_TOKEN="$(secret controller)" HOST=127.0.0.1 LOG_LEVEL="${LOG_LEVEL:-info}"
    KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-6}" KAFKA_SESSION_TIMEOUT_SEC="${KAFKA_SESSION_TIMEOUT_SEC:-30}" DATA_DIR="$DIST/data"
    TRUST_PROXY=true TRUSTED_PROXIES=127.0.0.1) # nginx on loopback sets X-Forwarded-For: per-client rate limits see the client
  cd "$ROOT"
  for i in 0 1; do
    start_service "controller$((i + 1))" "http://127.0.0.1:${OPS_PORTS[i]}/v1/ready" "${common[@]}" PORT="${CONTROLLER_PORTS[i]}" OPS_PORT="${OPS_PORTS[i]}" -- bun controller/src/main.ts
  done
  for i in 0 1; do
    start_service "relay$((i + 1))" "http://127.0.0.1:${RELAY_PORTS[i]}/v1/ready" "${common[@]}" PORT="${RELAY_PORTS[i]}" RELAY_ID="relay$((i + 1))" \
      CONTROLLER_URLS="http://127.0.0.1:${CONTROLLER_PORTS[0]},http://127.0.0.1:${CONTROLLER_PORTS[1]}" -- bun relay/src/main.ts
  done
  wait_whole
  start_service management "http://127.0.0.1:$MANAGEMENT_PORT/v1/ready" "${common[@]}" PORT="$MANAGEMENT_PORT" PUBLIC_URL="http://127.0.0.1:$NGINX_PORT" \
    CONTROLLER_URLS="http://127.0.0.1:${CONTROLLER_PORTS[0]},http://127.0.0.1:${CONTROLLER_PORTS[1]}" -- bun management/src/main.ts
  "$ROOT/scripts/infra/nginx.sh" install >&2
  "$ROOT/scripts/infra/nginx.sh" start >&2
  wait_for 30 "$INFRA_STATE/nginx/nginx.pid" "$INFRA_STATE/nginx/error.log" curl -fsS "http://127.0.0.1:$NGINX_PORT/v1/ready" || die "nginx not ready"
  echo "$infra_env"
  cat <<ENV
export E2E_BASE_URL=http://127.0.0.1:$NGINX_PORT
export AUTH_JWT_SECRET=$(secret jwt)
export E2E_RELAY_URLS=http://127.0.0.1:${RELAY_PORTS[0]},http://127.0.0.1:${RELAY_PORTS[1]}
ENV
  log "distributed stack up behind http://127.0.0.1:$NGINX_PORT (logs: $DIST)"
}

# restart NAME: SIGTERM one service and start it again with the environment it had (for failure tests);
# done once it is ready and, for a relay or controller, every relay streams from every controller again.
restart() {
  local name=$1 envf="$DIST/$1.env"
  [ -f "$envf" ] || die "unknown service: $name"
  SVC=$name stop_pid "$DIST/$name.pid" 20
  # shellcheck disable=SC2046
  start_service "$name" "$(cat "$DIST/$name.ready")" $(cat "$envf") -- $(cat "$DIST/$name.cmd")
  case $name in relay* | controller*) wait_whole ;; esac
}

stop() {
  "$ROOT/scripts/infra/nginx.sh" stop >&2 || true
  for name in management relay1 relay2 controller1 controller2; do SVC=$name stop_pid "$DIST/$name.pid" 20 || true; done
  "$ROOT/scripts/infra/down.sh" >&2 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) restart "${2:?service name}" ;;
  *) echo "usage: $0 {start|stop|restart NAME}" >&2; exit 2 ;;
esac

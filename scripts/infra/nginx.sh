#!/usr/bin/env bash
# nginx edge proxy on loopback (Debian's nginx, config and state under the state dir, not /etc).
#   /v1/ws -> relays (WebSocket, round-robin)    other /v1/ and / (the web app) -> management
# Usage: nginx.sh {install|start|stop}
set -euo pipefail
SVC=nginx
source "$(dirname "$0")/lib.sh"

NGINX_PORT=${NGINX_PORT:-8088}
RELAY_UPSTREAMS=${RELAY_UPSTREAMS:-127.0.0.1:8181,127.0.0.1:8182}
MANAGEMENT_UPSTREAMS=${MANAGEMENT_UPSTREAMS:-127.0.0.1:8190}
DIR="$INFRA_STATE/nginx"
PIDF="$DIR/nginx.pid"

install() {
  command -v nginx >/dev/null && { log "nginx already installed ($(nginx -v 2>&1))"; return; }
  log "apt-get install nginx"
  [ "$(id -u)" = 0 ] || die "installing nginx needs root"
  # Debian's nginx-light is only a transitional package for nginx; install nginx itself.
  # (`apt-get update` first when the package lists are missing, e.g. on a fresh image.)
  compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || logged "$INFRA_CACHE/apt.log" timeout 300 apt-get update -q
  DEBIAN_FRONTEND=noninteractive logged "$INFRA_CACHE/apt.log" \
    timeout 600 apt-get install -y -q --no-install-recommends nginx
}

# servers LIST OPTIONS: one `server` line per host:port. A refused connection always moves the request to
# the next server. Management's servers are then marked down for 2 s (nginx's default 10 s left no server
# at all for a while when instances restart one after the other). The relays' never are (max_fails=0):
# nginx clears the mark only when a request to the server completes, and a WebSocket completes when it
# closes — a relay back from a restart stayed skipped for as long as the sockets it took since stayed
# open, and two relays back at once answered 503 while both were up (tests/relays.e2e.test.ts).
servers() { tr ',' '\n' <<<"$1" | sed "/^\$/d; s/.*/    server & $2;/"; }

write_conf() {
  mkdir -p "$DIR/tmp"
  local user=""; [ "$(id -u)" = 0 ] && user="user root;"  # workers must write the temp dirs below
  local nofile; nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536; [ "$nofile" -gt 65536 ] && nofile=65536
  cat >"$DIR/nginx.conf" <<CONF
daemon off;
$user
# Each proxied WebSocket holds two connections (client and relay); each worker has its own file
# limit (the hard limit, $nofile here): two workers hold ~$((nofile - 1000)) proxied sockets.
worker_processes 2;
worker_rlimit_nofile $nofile;
pid $PIDF;
error_log $DIR/error.log warn;
events { worker_connections $((nofile - 1000)); }

http {
  # \$uri, never \$request_uri/\$request: the query string carries access_token.
  log_format chat '\$remote_addr [\$time_local] "\$request_method \$uri" \$status '
                  '\$body_bytes_sent \$request_time rid=\$req_id up=\$upstream_addr';
  access_log $DIR/access.log chat;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  server_tokens off;

  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  map \$http_x_request_id \$req_id { default \$http_x_request_id; '' \$request_id; }

  upstream relays {
$(servers "$RELAY_UPSTREAMS" "max_fails=0")
  }
  upstream management {
$(servers "$MANAGEMENT_UPSTREAMS" "max_fails=1 fail_timeout=2s")
    keepalive 16;
  }

  server {
    listen 127.0.0.1:$NGINX_PORT;
    add_header X-Request-Id \$req_id always;
    proxy_http_version 1.1;
    # nginx's own refusals (malformed request, body over the limit, no upstream) in the JSON envelope,
    # never an HTML page; the services' answers pass through untouched.
    error_page 400 494 = @bad_request;
    error_page 405 = @method_not_allowed;
    error_page 413 = @too_large;
    error_page 502 503 504 = @unavailable;
    location @bad_request { default_type application/json; return 400 '{"error":{"code":"validation","message":"bad request"}}'; }
    location @method_not_allowed { default_type application/json; return 405 '{"error":{"code":"method_not_allowed","message":"method not allowed"}}'; }
    location @too_large { default_type application/json; return 413 '{"error":{"code":"too_large","message":"request body too large"}}'; }
    location @unavailable { default_type application/json; return 503 '{"error":{"code":"unavailable","message":"service unavailable, retry later"}}'; }
    # Tokens go in a header: room for large JWTs (the services refuse those over 8 KiB with a 401 of their own).
    large_client_header_buffers 4 32k;
    # A method no route serves is refused here; the services answer 405 with Allow for the known ones.
    if (\$request_method !~ ^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$) { return 405; }
    # proxy_set_header is repeated per location: any proxy_set_header there drops inherited ones.
    # nginx is the edge, so X-Forwarded-For is overwritten, not appended to a client-supplied one.

    location = /v1/ws {
      proxy_pass http://relays;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Request-Id \$req_id;
      # No relay is ever marked down (upstream above): one that does not answer (rather than refuse) costs a
      # new socket at most 2 s before the next relay is tried.
      proxy_connect_timeout 2s;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
      # error-level lines (e.g. upstream refused) quote the full request line, token included.
      error_log $DIR/error.log crit;
    }
    location /v1/ {
      proxy_pass http://management;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Request-Id \$req_id;
    }
    # The web app (management serves it from memory; hashed assets are cached by browsers).
    location / {
      limit_except GET { deny all; }
      proxy_pass http://management;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Request-Id \$req_id;
    }
  }
}
CONF
}

start() {
  if pid_alive "$PIDF"; then log "already running (pid $(cat "$PIDF"))"; return; fi
  command -v nginx >/dev/null || with_lock nginx install
  ensure_port_free "$NGINX_PORT"
  write_conf
  local nginx=(nginx -p "$DIR" -e "$DIR/error.log" -c "$DIR/nginx.conf")
  "${nginx[@]}" -t -q 2>>"$DIR/error.log" || { tail -n 20 "$DIR/error.log" >&2; die "bad config $DIR/nginx.conf"; }
  log "starting on 127.0.0.1:$NGINX_PORT (relays: $RELAY_UPSTREAMS; management: $MANAGEMENT_UPSTREAMS)"
  start_bg "$PIDF" "$DIR/error.log" "${nginx[@]}"
  wait_for "${NGINX_START_TIMEOUT:-30}" "$PIDF" "$DIR/error.log" port_open "$NGINX_PORT" \
    || die "start failed (log: $DIR/error.log)"
  log "ready (pid $(cat "$PIDF"))"
}

case "${1:-}" in
  install) with_lock nginx install ;;
  start) start ;;
  stop) stop_pid "$PIDF" 10 ;;
  *) echo "usage: $0 {install|start|stop}" >&2; exit 2 ;;
esac

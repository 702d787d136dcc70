# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the callers
# Shared helpers for scripts/infra/*.sh — sourced, not executed.
# Cache (downloads/builds) survives between runs; state (data, logs, pids) is disposable.
INFRA_CACHE=${INFRA_CACHE:-$HOME/.cache/chat-infra}
INFRA_STATE=${INFRA_STATE:-/tmp/chat-infra}
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$INFRA_CACHE" "$INFRA_STATE"
INFRA_STATE=$(cd "$INFRA_STATE" && pwd)  # absolute: pid_alive matches it in process command lines

# Go builds share one module/build cache under INFRA_CACHE so rebuilds are fast.
export GOPATH="$INFRA_CACHE/go" GOMODCACHE="$INFRA_CACHE/go/mod" GOCACHE="$INFRA_CACHE/go/build" GOBIN="$INFRA_CACHE/bin"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local} GOFLAGS=${GOFLAGS:--buildvcs=false}

log() { printf '[%s] %s\n' "${SVC:-infra}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Alive and really ours: pids get reused, so the cmdline must mention the state dir.
pid_alive() {
  local pid; pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$INFRA_STATE"
}

# start_bg PIDFILE LOGFILE CMD... — detached from the caller's session and stdout
# (so `eval "$(up.sh)"` doesn't wait for the servers to exit). The pid file is written by the process
# that then execs CMD, never from `$!`: setsid forks when it finds itself leading a process group
# (a caller with job control), and `$!` is then a pid that has already exited.
start_bg() {
  local pidf=$1 logf=$2 i; shift 2
  rm -f "$pidf"
  # shellcheck disable=SC2016  # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidf" "$@" >>"$logf" 2>&1 </dev/null &
  for ((i = 0; i < 200; i++)); do [ -s "$pidf" ] && return 0; sleep 0.05; done
  log "no pid file after 10 s: $pidf"
  return 1
}

# wait_for SECONDS PIDFILE "LOGFILES" CMD... — poll CMD; on timeout or death print the log
# tails, stop the half-started process and fail.
wait_for() {
  local timeout=$1 pidf=$2 logs=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidf"; then log "process died during start-up"
    elif ((SECONDS >= deadline)); then log "not ready after ${timeout}s"
    else sleep 0.2; continue; fi
    # shellcheck disable=SC2086
    tail -n 40 $logs >&2 || true
    stop_pid "$pidf" 10
    return 1
  done
}

# stop_pid PIDFILE [SECONDS] — SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
  local pidf=$1 timeout=${2:-20} pid
  if ! pid_alive "$pidf"; then rm -f "$pidf"; log "not running"; return 0; fi
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after ${timeout}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidf"
  log "stopped"
}

# Refuse to start when something we don't own already holds the port.
ensure_port_free() { ! port_open "$1" || die "port $1 is already in use by another process"; }

# logged LOGFILE CMD... — keep noisy build output out of the way; show its tail on failure.
logged() {
  local logf=$1 rc=0; shift
  "$@" >"$logf" 2>&1 || rc=$?
  ((rc == 0)) || { tail -n 30 "$logf" >&2; log "failed (exit $rc), full log: $logf"; }
  return $rc
}

# go_install_versioned BIN PKG@VERSION TIMEOUT_S — `go install` a command into BIN (a path whose name
# carries the version, so an upgrade is a new file and a rerun finds the old one done). Builds into a
# scratch GOBIN, then renames: an interrupted build never leaves a half-written BIN.
go_install_versioned() {
  local bin=$1 pkg=$2 secs=$3 name tmp
  [ -x "$bin" ] && { log "$(basename "$bin") already installed"; return; }
  name=${pkg%@*}
  [[ $(basename "$name") =~ ^v[0-9]+$ ]] && name=$(dirname "$name") # go names a module/vN command after the module
  name=$(basename "$name")
  log "go install $pkg"
  tmp="$GOBIN/.tmp-$$"
  mkdir -p "$tmp"
  GOBIN="$tmp" logged "$INFRA_CACHE/$name-build.log" timeout "$secs" go install "$pkg"
  mv "$tmp/$name" "$bin" && rmdir "$tmp"
  log "installed $bin"
}

# with_lock NAME CMD... — one install of NAME at a time per INFRA_CACHE (parallel jobs share it).
# The lock fd lives only in this subshell, so servers started later never inherit it.
with_lock() {
  local name=$1; shift
  ( flock -w 900 9 || die "timed out waiting for the $name install lock"; "$@" ) 9>"$INFRA_CACHE/.$name.lock"
}

#!/usr/bin/env bash
# The project's whole test run (README's test command; .ci/run calls it):
#   1. typecheck, and the generated protobuf code is fresh
#   2. unit + contract tests on the embedded adapters + end-to-end tests against a standalone process,
#      the web app's included, in Chromium (installed from Debian here when missing)
#   3. real Kafka 4.1 / FerretDB (MongoDB wire; on PostgreSQL unless FERRETDB_BACKEND=sqlite, see
#      scripts/infra/README.md) / versitygw (S3), installed from registries: every adapter's
#      contract suite and the management tests run against them; a suite skipped there fails the run
#   4. the distributed topology (2 controllers, 2 relays, management, nginx): the end-to-end suite through nginx
#   5. the fault suite, short form: its own stack under load, SIGKILL of a controller, a relay, Kafka, the
#      database and the S3 server in turn (tests/faults/suite.ts; docs/reliability.md has the full run)
# TEST_INFRA=0 stops after step 2 (no Java/Go needed), TEST_FAULTS=0 after step 4. Everything started
# here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export INFRA_STATE=${INFRA_STATE:-/tmp/chat-infra-test}
results=$(mktemp)
failures=$(mktemp)
started=0
faults_started=0
FAULT_ENV=(DIST_PORT_OFFSET="${FAULT_PORT_OFFSET:-700}" INFRA_STATE="$INFRA_STATE-faults")

phase() { printf '\n==> %s\n' "$*"; }
# run_bun LABEL ARGS... — bun test, its output kept for the totals
run_bun() {
  local label=$1 out; shift
  out=$(mktemp)
  phase "$label"
  local rc=0
  bun test "$@" 2>&1 | tee "$out" | grep -v '^{"time"' || rc=${PIPESTATUS[0]}
  # bun prints " N pass", " N skip", " N fail" at the end of a run
  awk -v l="$label" '/^ *[0-9]+ pass$/{p=$1} /^ *[0-9]+ skip$/{s=$1} /^ *[0-9]+ fail$/{f=$1} END{print l, p+0, f+0, s+0}' "$out" >>"$results"
  # Each failure's error as bun printed it (the lines since the previous test's result), repeated at the
  # end: a CI log is often read from its tail, where bun itself lists only the failing tests' names.
  awk -v l="$label" '
    /^\{"time"/ || done { next }
    /^ *[0-9]+ tests? (failed|skipped|todo):/ { done = 1; next }   # the summary: names only, again
    /^\((pass|skip|todo)\) / || /^[^ ].*\.test\.[jt]sx?:$/ { n = 0; next }
    /^\(fail\) / { if (++shown <= 10) { printf "[%s] %s\n", l, $0; for (i = (n > 40 ? n - 40 : 0); i < n; i++) print "    " buf[i]; print "" } n = 0; next }
    { buf[n++] = $0 }
  ' "$out" >>"$failures"
  rm -f "$out"
  return "$rc"
}
cleanup() {
  if ((started)); then phase "stopping the distributed stack"; "$ROOT/scripts/dist.sh" stop >/dev/null 2>&1 || true; fi
  if ((faults_started)); then env "${FAULT_ENV[@]}" "$ROOT/scripts/dist.sh" stop >/dev/null 2>&1 || true; fi
  if [ -s "$failures" ]; then
    phase "failures (repeated from above)"
    cat "$failures"
  fi
  if [ -s "$results" ]; then
    awk '{p+=$2; f+=$3; s+=$4; printf "  %-40s %4d passed, %d failed, %d skipped\n", $1, $2, $3, $4} END{printf "\n%d passed, %d failed, %d skipped\n", p, f, s}' "$results"
  fi
  rm -f "$results" "$failures"
}
trap cleanup EXIT

phase "typecheck and generated code"
bun x tsc --noEmit -p .
bun x tsc --noEmit -p web   # the web app: DOM types, JSX (Preact)
bun run --silent proto:gen >/dev/null
git diff --exit-code --stat -- proto/gen || { echo "proto/gen is stale: run 'bun run proto:gen' and commit" >&2; exit 1; }

# The browser tests (tests/browser.e2e.test.ts) drive Debian's Chromium through playwright-core: no browser download.
if ! command -v chromium >/dev/null; then
  phase "installing chromium (Debian package) for the browser tests"
  timeout 300 apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
TEST_REQUIRE_BROWSER=1 run_bun embedded

[ "${TEST_INFRA:-1}" = 0 ] && exit 0

phase "starting real infrastructure and the distributed stack (cached installs)"
rm -rf "$INFRA_STATE"
started=1
t0=$SECONDS
# Assigned first: `eval "$(…)"` alone would swallow a failed start and run the suites without the stack.
stack_env=$(scripts/dist.sh start) || { echo "the distributed stack did not start (logs under $INFRA_STATE)" >&2; exit 1; }
eval "$stack_env"
echo "infrastructure and services ready in $((SECONDS - t0))s"

# Here a suite skipped for a missing URL would pass unproven: the missingInfra placeholders fail
# under TEST_REQUIRE_INFRA, and any other skip fails the phase below.
TEST_REQUIRE_INFRA=1 run_bun real-infra common management
skipped=$(awk '$1 == "real-infra" { print $4 }' "$results")
if [ "${skipped:-0}" != 0 ]; then
  echo "real-infra: $skipped test(s) skipped; every suite must run against the real infrastructure" >&2
  exit 1
fi
E2E_DIST_SCRIPT=scripts/dist.sh run_bun distributed-e2e tests

[ "${TEST_FAULTS:-1}" = 0 ] && exit 0
# Short form: 8 s outages (readiness reports a killed database down 5-6 s after the kill), 2 teams x 4
# members; the full run (10 s, 3 x 6) is in docs/reliability.md.
phase "fault suite (short form: 8 s outages, 2 teams x 4 members; the stack above is stopped first)"
"$ROOT/scripts/dist.sh" stop >/dev/null 2>&1 || true
started=0
faults_started=1
rc=0
env "${FAULT_ENV[@]}" FAULT_OUTAGE_SEC="${FAULT_OUTAGE_SEC:-8}" FAULT_TEAMS="${FAULT_TEAMS:-2}" FAULT_USERS_PER_TEAM="${FAULT_USERS_PER_TEAM:-4}" \
  bun tests/faults/suite.ts || rc=$?
echo "faults $((rc == 0)) $((rc != 0)) 0" >>"$results"
exit "$rc"

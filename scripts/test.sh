#!/usr/bin/env bash
# Runs every test of switchyard, installing what they need on a fresh machine:
#   1. cargo test: unit and integration tests (real server, real sockets, real clients),
#      the hostile-client suite, and the cluster tests (they start redis-server)
#   2. the TypeScript client: unit, integration against the binary, headless Chromium
#   3. the admin page in headless Chromium, and /metrics parsed by prometheus_client
#   4. the Autobahn|Testsuite conformance gate against the /echo route, over ws:// and wss://
#      (three parts in parallel)
#   5. the fuzz targets, briefly (20 s each) plus every saved crash input
#   6. the load generator's own tests and its smoke run against the release binary
# A part can be skipped with SKIP_CLIENT=1, SKIP_ADMIN_BROWSER=1, SKIP_AUTOBAHN=1,
# SKIP_FUZZ=1 or SKIP_BENCH=1 (CI skips nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
export SWITCHYARD_BIN="$PWD/target/release/switchyard"

step() { printf '\n==== %s (at %d s) ====\n' "$*" "$SECONDS"; }

if [ -x scripts/redis.sh ]; then
  step "redis-server for the cluster tests"
  scripts/redis.sh install
fi

if ! command -v python3 >/dev/null; then
  step "python3 for the example backend (tests/proxy.rs)"
  apt-get install -y python3 >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y python3 >/dev/null; }
fi

if ! python3 -c 'import websockets' 2>/dev/null; then
  step "python websockets for the wss:// client test (tests/tls.rs)"
  python3 -m pip install --quiet --disable-pip-version-check 'websockets>=13' \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'websockets>=13'
fi

step "cargo build --release"
cargo build --release --locked

step "cargo test"
cargo test --release --locked

if [ "${SKIP_CLIENT:-0}" != 1 ]; then
  step "TypeScript client"
  bash client/scripts/ci.sh
fi

if [ "${SKIP_ADMIN_BROWSER:-0}" != 1 ]; then
  step "admin page, TLS and compression in headless Chromium, /metrics parsed by prometheus_client"
  bash tests/browser/run.sh
fi

if [ "${SKIP_AUTOBAHN:-0}" != 1 ]; then
  # Three parts at once, each with its own server and report (the suite's Python, not the
  # server, is the bottleneck: groups 12 and 13 alone take ~9 of the ~10 minutes run in one).
  step "Autobahn conformance: ws:// groups 1-10 and 12, ws:// group 13, wss:// groups 1-10, in parallel"
  AB_LOGS=$(mktemp -d)
  AUTOBAHN_GROUPS=1-10,12 AUTOBAHN_OUT="$PWD/.autobahn/run-a" bash scripts/autobahn/run.sh >"$AB_LOGS/ws-1-12.log" 2>&1 & ab_a=$!
  AUTOBAHN_GROUPS=13 AUTOBAHN_OUT="$PWD/.autobahn/run-b" bash scripts/autobahn/run.sh >"$AB_LOGS/ws-13.log" 2>&1 & ab_b=$!
  AUTOBAHN_TLS=1 bash scripts/autobahn/run.sh >"$AB_LOGS/wss-1-10.log" 2>&1 & ab_c=$!
  ab_failed=0
  for part in "$ab_a ws-1-12" "$ab_b ws-13" "$ab_c wss-1-10"; do
    set -- $part
    wait "$1" || ab_failed=1
    printf -- '---- Autobahn part %s ----\n' "$2"
    cat "$AB_LOGS/$2.log"
  done
  [ "$ab_failed" = 0 ] || { echo "Autobahn: a part failed (its log above)"; exit 1; }
fi

if [ "${SKIP_FUZZ:-0}" != 1 ] && [ -x scripts/fuzz.sh ]; then
  step "fuzz smoke runs"
  scripts/fuzz.sh 20
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "load generator: its tests and a smoke run"
  (cd bench && cargo test --release --locked)
  bash bench/run.sh --quick
fi

step "all tests passed"

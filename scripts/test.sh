#!/usr/bin/env bash
# Runs every test of switchyard, installing what they need on a fresh machine:
#   1. cargo test: unit and integration tests (real server, real sockets, real clients)
#   2. the TypeScript client: unit, integration against the binary, headless Chromium
#   3. the Autobahn|Testsuite conformance gate against the /echo route
#   4. the load generator's smoke run against the release binary
# Each part can be skipped with SKIP_CLIENT=1, SKIP_AUTOBAHN=1, SKIP_BENCH=1.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==== %s ====\n' "$*"; }

step "cargo build --release"
cargo build --release --locked

step "cargo test"
cargo test --release --locked

if [ "${SKIP_CLIENT:-0}" != 1 ] && [ -x client/scripts/ci.sh ]; then
  step "TypeScript client"
  SWITCHYARD_BIN="$PWD/target/release/switchyard" client/scripts/ci.sh
fi

if [ "${SKIP_AUTOBAHN:-0}" != 1 ] && [ -x scripts/autobahn/run.sh ]; then
  step "Autobahn conformance"
  SWITCHYARD_BIN="$PWD/target/release/switchyard" scripts/autobahn/run.sh
fi

if [ "${SKIP_BENCH:-0}" != 1 ] && [ -x bench/run.sh ]; then
  step "load generator smoke run"
  SWITCHYARD_BIN="$PWD/target/release/switchyard" bench/run.sh --quick
fi

step "all tests passed"

#!/usr/bin/env bash
# The admin interface's browser check: headless Chromium (Debian `chromium`, driven by
# playwright-core) on the real binary with --admin-token, then /metrics snapshots parsed by
# Python's prometheus_client; also the example page over https:// (tls-example.test.mjs) and
# with permessage-deflate (compression-example.test.mjs). Installs what it needs on a fresh machine.
#   SWITCHYARD_BIN  the binary (default: target/release/switchyard, built if missing)
#   CHROMIUM_PATH   default /usr/bin/chromium
#   ADMIN_TEST_OUTPUT  where screenshots and metrics snapshots go (default tests/browser/out)
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"
export SWITCHYARD_BIN="${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}"
export ADMIN_TEST_OUTPUT="${ADMIN_TEST_OUTPUT:-$PWD/out}"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ ! -x "$SWITCHYARD_BIN" ]; then
  (cd "$ROOT" && cargo build --release --locked)
fi
if [ ! -x "$CHROMIUM" ]; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
npm ci --no-audit --no-fund --loglevel=error
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import prometheus_client' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'prometheus-client==0.26.0'
fi

mkdir -p "$ADMIN_TEST_OUTPUT"
rm -f "$ADMIN_TEST_OUTPUT"/admin*.png "$ADMIN_TEST_OUTPUT"/metrics-*.txt
node --test admin-page.test.mjs tls-example.test.mjs compression-example.test.mjs
.venv/bin/python metrics_check.py "$ADMIN_TEST_OUTPUT/metrics-before.txt" "$ADMIN_TEST_OUTPUT/metrics-after.txt"
echo "admin page screenshots: $ADMIN_TEST_OUTPUT/admin.png $ADMIN_TEST_OUTPUT/admin-after-disconnect.png"

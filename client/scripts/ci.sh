#!/usr/bin/env bash
# ci.sh — the client's whole check from a fresh machine: installs Chromium (Debian package) if
# missing, `npm ci`, builds with tsc, checks that the committed dist/ is that build, makes sure a
# switchyard binary exists (SWITCHYARD_BIN, else ../target/release/switchyard, built with cargo
# if absent), installs redis-server if missing (../scripts/redis.sh), then `npm test` (unit +
# integration against the binary + headless Chromium).
# Usage: bash client/scripts/ci.sh    (from anywhere; exits non-zero on any failure)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CLIENT_DIR=$(pwd)
step() { printf '\n=== client ci: %s ===\n' "$*"; }

step "node"
if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "client ci: Node.js >= 20 with npm is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
node --version

step "chromium"
CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing the Debian chromium package…"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || true
  fi
fi
if [ -x "$CHROMIUM_PATH" ]; then
  "$CHROMIUM_PATH" --version 2>/dev/null || true
else
  echo "!!!!!!!! client ci: NO CHROMIUM at $CHROMIUM_PATH and it could not be installed" >&2
  echo "!!!!!!!! (needs root and apt-get): the browser test will be SKIPPED" >&2
fi
export CHROMIUM_PATH

step "redis-server (the browser recovery test runs a two-node cluster)"
if ! command -v redis-server >/dev/null; then
  bash ../scripts/redis.sh install || echo "!!!!!!!! client ci: no redis-server: the browser recovery test will be SKIPPED" >&2
fi
command -v redis-server >/dev/null && redis-server --version

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error

step "build and check dist"
node scripts/check-dist.mjs

step "switchyard binary"
SWITCHYARD_BIN=${SWITCHYARD_BIN:-../target/release/switchyard}
if [ ! -x "$SWITCHYARD_BIN" ]; then
  echo "no binary at $SWITCHYARD_BIN: cargo build --release"
  (cd "$CLIENT_DIR/.." && cargo build --release --quiet)
fi
SWITCHYARD_BIN=$(cd "$(dirname "$SWITCHYARD_BIN")" && pwd)/$(basename "$SWITCHYARD_BIN")
export SWITCHYARD_BIN
echo "$SWITCHYARD_BIN"

step "npm test"
npm test

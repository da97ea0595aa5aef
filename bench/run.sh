#!/usr/bin/env bash
# Builds the bench crate (release) and runs `switchyard-bench compare` with the given flags:
#   bench/run.sh            full run: 3 repetitions of every scenario (with the 10,000-client
#                           storm and 19,000 connections in one channel) against switchyard and
#                           the peers (tokio-tungstenite default and 4 KiB, fastwebsockets),
#                           about 20 minutes on a quiet machine
#   bench/run.sh --quick    smoke test: small sizes, one repetition, a few seconds
# It needs target/release/switchyard in the repository root (`cargo build --release` there),
# or --switchyard PATH, or --skip-switchyard (peers only).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked --quiet
exec target/release/switchyard-bench compare "$@"

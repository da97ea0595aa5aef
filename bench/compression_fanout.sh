#!/usr/bin/env bash
# Fan-out 1 -> 1,000 with and without permessage-deflate, alternating in one run: a fresh
# `--workers 1` server pinned to core 0 for every run (plain: no flag; deflate: --compression
# with every subscriber offering permessage-deflate), the generator on core 1. Prints each
# run, then the medians and the ratio of deliveries per server CPU-second.
#
# usage: bench/compression_fanout.sh [SWITCHYARD_BIN] [REPS]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-$HERE/../target/release/switchyard}
REPS=${2:-3}
GEN=$HERE/target/release/switchyard-bench
[ -x "$GEN" ] || (cd "$HERE" && cargo build --release)
OUT=$(mktemp)
for rep in $(seq 1 "$REPS"); do
  for mode in plain deflate; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    server_args=(); gen_args=()
    if [ "$mode" = deflate ]; then server_args=(--compression); gen_args=(--deflate); fi
    taskset -c 0 "$BIN" --listen "127.0.0.1:$port" --workers 1 "${server_args[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    line=$(taskset -c 1 "$GEN" fanout --target "127.0.0.1:$port" --server-pid "$pid" --subscribers 1000 \
             --duration 3 "${gen_args[@]}" 2>&1 | grep '^{' || true)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$mode $line" >>"$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
runs = {"plain": [], "deflate": []}
for line in open(sys.argv[1]):
    mode, rest = line.split(" ", 1)
    if not rest.strip():
        print(f"{mode}: a run failed"); continue
    d = json.loads(rest)
    dps, cpu = d["metrics"][0]["value"], d["cpu"]
    per_cpu = dps / max(cpu["server"], 1e-9)
    runs[mode].append((dps, cpu["server"], per_cpu))
    print(f"{mode:8} deliveries/s {dps:12,.0f}  server CPU {cpu['server']:.2f}  per server CPU-s {per_cpu:12,.0f}  "
          f"generator {cpu['generator']:.2f}  others {cpu['others']:.2f}  errors {d['errors']}")
med = {m: [statistics.median(x[i] for x in r) for i in range(3)] for m, r in runs.items() if r}
if len(med) == 2:
    p, z = med["plain"], med["deflate"]
    print(f"median plain:   {p[0]:,.0f} deliveries/s, server CPU {p[1]:.2f}, {p[2]:,.0f} per server CPU-s")
    print(f"median deflate: {z[0]:,.0f} deliveries/s, server CPU {z[1]:.2f}, {z[2]:,.0f} per server CPU-s")
    print(f"deflate / plain: deliveries/s {z[0]/p[0]:.2f}x, per server CPU-second {z[2]/p[2]:.2f}x (target >= 0.8x)")
PY
rm -f "$OUT"

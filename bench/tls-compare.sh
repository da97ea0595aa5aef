#!/usr/bin/env bash
# TLS beside plain TCP in one run: the same binary twice (plain, and with --tls-cert/--tls-key
# on the test certificate of tests/fixtures/tls/), each fresh per scenario, --workers 1 pinned
# to core 0, the generator pinned to core 1 (its --tls flag for the TLS server). Rows: echo
# 100 x 16 (replies/s), fan-out 1 -> 1,000 (deliveries/s and server CPU per delivery),
# connects+upgrades/s (and the server's CPU per connect) and RSS per idle connection at N held (default 10,000), then the ratios.
#   bench/tls-compare.sh [--conns N] [--duration S] [--quick]
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
BIN=${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}
CERT=$ROOT/tests/fixtures/tls/cert-a.pem
KEY=$ROOT/tests/fixtures/tls/key-a.pem
CONNS=10000
DURATION=3
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --quick) CONNS=300; DURATION=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
cargo build --release --locked --quiet
GEN=$PWD/target/release/switchyard-bench
OUT=$(mktemp -d)
SRV=""
trap '[ -n "$SRV" ] && kill -KILL "$SRV" 2>/dev/null; rm -rf "$OUT"' EXIT

# run MODE NAME ARGS...: a fresh server in MODE (plain|tls), one scenario, its JSON line kept.
run() {
  local mode=$1 name=$2; shift 2
  local port tls_server=() tls_client=()
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if [ "$mode" = tls ]; then tls_server=(--tls-cert "$CERT" --tls-key "$KEY"); tls_client=(--tls); fi
  taskset -c 0 "$BIN" --listen "127.0.0.1:$port" --workers 1 "${tls_server[@]}" 2>"$OUT/server.log" &
  SRV=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 "$GEN" "$@" --target "127.0.0.1:$port" --server-pid "$SRV" --duration "$DURATION" "${tls_client[@]}" \
    | tee "$OUT/last.txt" | grep '^{' >"$OUT/$mode-$name.json" || { cat "$OUT/last.txt" "$OUT/server.log" >&2; exit 1; }
  kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=""
  echo "  $mode $name done" >&2
}

for mode in plain tls; do
  run "$mode" echo echo --conns 100 --in-flight 16
  run "$mode" fanout fanout --subscribers 1000
  run "$mode" conns conns --conns "$CONNS" --channels each --hold 3
done

python3 - "$OUT" "$CONNS" <<'PY'
import json, os, sys
out, conns = sys.argv[1], int(sys.argv[2])
def load(mode, name):
    return json.load(open(os.path.join(out, f"{mode}-{name}.json")))
def metric(result, prefix):
    for m in result["metrics"]:
        if m["name"].startswith(prefix):
            return m["value"]
    raise KeyError(f"{prefix} not in {[m['name'] for m in result['metrics']]}")
rows = []
for mode in ("plain", "tls"):
    echo, fan, held = load(mode, "echo"), load(mode, "fanout"), load(mode, "conns")
    deliveries = metric(fan, "deliveries/s")
    rows.append({
        "mode": mode,
        "echo_16_per_s": metric(echo, "echo msgs/s"),
        "fanout_1000_deliveries_per_s": deliveries,
        "server_ns_per_delivery": fan["cpu"]["server"] / deliveries * 1e9,
        "connects_upgrades_per_s": metric(held, "connects+upgrades/s"),
        "server_us_per_connect": metric(held, "server CPU per connection"),
        "rss_kib_per_idle_conn": metric(held, "server RSS per connection"),
        "others_cpu": max(echo["cpu"]["others"], fan["cpu"]["others"], held["cpu"]["others"]),
    })
print(f"\n{'':34}{'plain':>14}{'TLS':>14}{'TLS/plain':>11}")
labels = [("echo 100 x 16, replies/s", "echo_16_per_s"),
          ("fan-out 1 -> 1,000, deliveries/s", "fanout_1000_deliveries_per_s"),
          ("server CPU per delivery, ns", "server_ns_per_delivery"),
          ("connects+upgrades/s", "connects_upgrades_per_s"),
          ("server CPU per connect, us", "server_us_per_connect"),
          (f"RSS per idle conn at {conns}, KiB", "rss_kib_per_idle_conn")]
for label, key in labels:
    p, t = rows[0][key], rows[1][key]
    print(f"{label:34}{p:14.1f}{t:14.1f}{t / p:11.2f}")
print(f"(other work on the machine, worst run: {rows[0]['others_cpu']:.0%} / {rows[1]['others_cpu']:.0%} of a core)")
print(json.dumps({"tls_compare": rows}))
PY

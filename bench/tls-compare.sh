#!/usr/bin/env bash
# Plain TCP, TLS, and TLS + permessage-deflate in one run: the same binary three times (plain;
# --tls-cert/--tls-key on the test certificate of tests/fixtures/tls/; the same plus
# --compression), each fresh per scenario, --workers 1 pinned to core 0, the generator pinned
# to core 1 (--tls, and --deflate for the compressed mode: every connection offers
# permessage-deflate with client_no_context_takeover; the generator sends uncompressed and
# inflates what comes back compressed). Rows: echo 100 x 16 (replies/s) and fan-out
# 1 -> 1,000 (deliveries/s, server CPU per delivery) with the default 64-byte payload (below
# the server's 128-byte --compression-threshold: never compressed) and again with a
# --payload-byte JSON message of everyday words (default 1024; 0 skips these rows), then
# connects+upgrades/s (and server CPU per connect) and RSS per idle connection at N held
# (default 10,000), then the ratios to plain.
#   bench/tls-compare.sh [--conns N] [--duration S] [--payload BYTES] [--quick]
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
BIN=${SWITCHYARD_BIN:-$ROOT/target/release/switchyard}
CERT=$ROOT/tests/fixtures/tls/cert-a.pem
KEY=$ROOT/tests/fixtures/tls/key-a.pem
CONNS=10000
DURATION=3
PAYLOAD=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) CONNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --payload) PAYLOAD=$2; shift 2 ;;
    --quick) CONNS=300; DURATION=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
cargo build --release --locked --quiet
GEN=$PWD/target/release/switchyard-bench
OUT=$(mktemp -d)
SRV=""
trap '[ -n "$SRV" ] && kill -KILL "$SRV" 2>/dev/null; rm -rf "$OUT"' EXIT

# run MODE NAME ARGS...: a fresh server in MODE (plain|tls|tlsz), one scenario, its JSON line kept.
run() {
  local mode=$1 name=$2; shift 2
  local port tls_server=() tls_client=()
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if [ "$mode" != plain ]; then tls_server=(--tls-cert "$CERT" --tls-key "$KEY"); tls_client=(--tls); fi
  if [ "$mode" = tlsz ]; then tls_server+=(--compression); tls_client+=(--deflate); fi
  taskset -c 0 "$BIN" --listen "127.0.0.1:$port" --workers 1 "${tls_server[@]}" 2>"$OUT/server.log" &
  SRV=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 "$GEN" "$@" --target "127.0.0.1:$port" --server-pid "$SRV" --duration "$DURATION" "${tls_client[@]}" \
    | tee "$OUT/last.txt" | grep '^{' >"$OUT/$mode-$name.json" || { cat "$OUT/last.txt" "$OUT/server.log" >&2; exit 1; }
  kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=""
  echo "  $mode $name done" >&2
}

for mode in plain tls tlsz; do
  run "$mode" echo echo --conns 100 --in-flight 16
  run "$mode" fanout fanout --subscribers 1000
  if [ "$PAYLOAD" -gt 0 ]; then
    run "$mode" echo-big echo --conns 100 --in-flight 16 --payload "$PAYLOAD" --words
    run "$mode" fanout-big fanout --subscribers 1000 --payload "$PAYLOAD" --words
  fi
  run "$mode" conns conns --conns "$CONNS" --channels each --hold 3
done

python3 - "$OUT" "$CONNS" "$PAYLOAD" <<'PY'
import json, os, sys
out, conns, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
MODES = ("plain", "tls", "tlsz")
def load(mode, name):
    return json.load(open(os.path.join(out, f"{mode}-{name}.json")))
def metric(result, prefix):
    for m in result["metrics"]:
        if m["name"].startswith(prefix):
            return m["value"]
    raise KeyError(f"{prefix} not in {[m['name'] for m in result['metrics']]}")
rows = []
for mode in MODES:
    echo, fan, held = load(mode, "echo"), load(mode, "fanout"), load(mode, "conns")
    deliveries = metric(fan, "deliveries/s")
    row = {
        "mode": mode,
        "echo_16_per_s": metric(echo, "echo msgs/s"),
        "fanout_1000_deliveries_per_s": deliveries,
        "server_ns_per_delivery": fan["cpu"]["server"] / deliveries * 1e9,
        "connects_upgrades_per_s": metric(held, "connects+upgrades/s"),
        "server_us_per_connect": metric(held, "server CPU per connection"),
        "rss_kib_per_idle_conn": metric(held, "server RSS per connection"),
    }
    runs = [echo, fan, held]
    if payload > 0:
        echo_big, fan_big = load(mode, "echo-big"), load(mode, "fanout-big")
        big_deliveries = metric(fan_big, "deliveries/s")
        row["echo_16_big_per_s"] = metric(echo_big, "echo msgs/s")
        row["fanout_1000_big_deliveries_per_s"] = big_deliveries
        row["server_ns_per_big_delivery"] = fan_big["cpu"]["server"] / big_deliveries * 1e9
        runs += [echo_big, fan_big]
    row["others_cpu"] = max(r["cpu"]["others"] for r in runs)
    row["notes"] = [n for r in runs for n in r.get("notes", []) if n.startswith("permessage-deflate")]
    rows.append(row)
print(f"\n{'':38}{'plain':>12}{'TLS':>12}{'TLS+deflate':>12}{'TLS/plain':>11}{'TLS+d/plain':>12}")
labels = [("echo 100 x 16, 64 B, replies/s", "echo_16_per_s"),
          ("fan-out 1 -> 1,000, 64 B, deliveries/s", "fanout_1000_deliveries_per_s"),
          ("  server CPU per delivery, ns", "server_ns_per_delivery")]
if payload > 0:
    labels += [(f"echo 100 x 16, {payload} B, replies/s", "echo_16_big_per_s"),
               (f"fan-out 1 -> 1,000, {payload} B, deliv/s", "fanout_1000_big_deliveries_per_s"),
               ("  server CPU per delivery, ns", "server_ns_per_big_delivery")]
labels += [("connects+upgrades/s", "connects_upgrades_per_s"),
           ("  server CPU per connect, us", "server_us_per_connect"),
           (f"RSS per idle conn at {conns}, KiB", "rss_kib_per_idle_conn")]
for label, key in labels:
    p, t, z = (row[key] for row in rows)
    print(f"{label:38}{p:12.1f}{t:12.1f}{z:12.1f}{t / p:11.2f}{z / p:12.2f}")
print("(other work on the machine, worst run: " + " / ".join(f"{r['others_cpu']:.0%}" for r in rows) + " of a core)")
for note in rows[2]["notes"]:
    print(f"TLS+deflate: {note}")
print(json.dumps({"tls_compare": rows}))
PY

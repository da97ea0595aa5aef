#!/usr/bin/env bash
# The cost of one echo message in the server, two ways (issue 12, "echo at uWebSockets' cost"):
#
#   scripts/profile-echo.sh callgrind [BINARY]   instructions (Ir) per echo message: the server
#       (--workers 1) under valgrind --tool=callgrind, 100 connections x 16 in flight; counters
#       zeroed once the connections are up, dumped after a fixed window, divided by the messages
#       the server counted in that window (/metrics). Deterministic up to a few messages.
#   scripts/profile-echo.sh perf [BINARY]        user and kernel CPU µs per message (the server
#       pinned to core 0, the generator to core 1, /proc/PID/stat over 4 s) and
#       `perf record -F 999 -g -p PID` of the same window: the hot symbols.
#
# BINARY defaults to target/release/switchyard; the generator is bench/target/release/switchyard-bench.
# Output goes to target/profile-echo/ (callgrind.out, perf.data, report text).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/profile-echo.sh callgrind|perf [BINARY]}
binary=${2:-target/release/switchyard}
bench=bench/target/release/switchyard-bench
out=target/profile-echo
mkdir -p "$out"
port=$((20000 + RANDOM % 20000))
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
stat_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

case "$mode" in
callgrind)
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
        "$binary" --listen "127.0.0.1:$port" --workers 1 >"$out/server.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    until curl -s "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.5; done
    taskset -c 1 "$bench" echo --target "127.0.0.1:$port" --conns 100 --in-flight 16 \
        --warmup 3 --duration 14 >"$out/generator.txt" 2>&1 &
    generator=$!
    sleep 4
    callgrind_control -z "$server" >/dev/null
    before=$(metric switchyard_messages_received_total)
    sleep 8
    after=$(metric switchyard_messages_received_total)
    callgrind_control -d "$server" >/dev/null
    wait "$generator" || true
    kill -INT "$server"; wait "$server" || true
    dump=$(ls -t "$out"/callgrind.out.* | head -1)
    ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    messages=$((after - before))
    echo "messages $messages  Ir $ir  Ir per echo $((ir / messages))"
    callgrind_annotate "$dump" 2>/dev/null | head -60 >"$out/callgrind.txt"
    echo "top functions: $out/callgrind.txt (dump $dump)"
    ;;
perf)
    taskset -c 0 "$binary" --listen "127.0.0.1:$port" --workers 1 >"$out/server.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    until curl -s "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
    taskset -c 1 "$bench" echo --target "127.0.0.1:$port" --conns 100 --in-flight 16 \
        --warmup 1 --duration 6 >"$out/generator.txt" 2>&1 &
    generator=$!
    sleep 1.5
    before=$(metric switchyard_messages_received_total)
    read -r u0 s0 < <(stat_ticks "$server")
    perf record -F 999 -g -p "$server" -o "$out/perf.data" -- sleep 4 >/dev/null 2>&1
    read -r u1 s1 < <(stat_ticks "$server")
    after=$(metric switchyard_messages_received_total)
    wait "$generator" || true
    kill -INT "$server"; wait "$server" || true
    messages=$((after - before))
    hz=$(getconf CLK_TCK)
    awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v m="$messages" -v hz="$hz" 'BEGIN {
        printf "messages %d  (%.0f/s)  user %.3f us/msg  kernel %.3f us/msg\n", m, m / 4, u / hz * 1e6 / m, s / hz * 1e6 / m }'
    perf report -i "$out/perf.data" --stdio --no-children --sort sym -g none 2>/dev/null |
        grep -E '^ +[0-9]' >"$out/perf.txt" || true
    awk '{ sub("%", "", $1); if ($2 == "[k]") k += $1; else u += $1 }
        END { printf "perf samples: user %.1f %%, kernel %.1f %%\n", u, k }' "$out/perf.txt"
    echo "hot symbols: $out/perf.txt"
    head -25 "$out/perf.txt"
    ;;
*) echo "usage: scripts/profile-echo.sh callgrind|perf [BINARY]" >&2; exit 2 ;;
esac

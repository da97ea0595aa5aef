#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets in fuzz/, replays every saved crash in
# fuzz/regressions/<target>/ (each one is a regression test), then fuzzes each target for
# SECONDS (default 60) from its committed seeds (fuzz/seeds/<target>/) and the working corpus
# (fuzz/corpus/<target>/, gitignored). Fails on any crash; prints executions, exec/s and
# coverage (cov/ft) per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Environment: FUZZ_SANITIZER (address, the default, or none), FUZZ_JOBS (parallel jobs per
# target, default 1), SWITCHYARD_FUZZ_HEAP_FACTOR (the connection target's heap bound in
# message limits, default 1; see fuzz/README.md).
# The address sanitizer flag needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1
# is set here; `FUZZ_SANITIZER=none` needs neither.
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_upgrade connection resp envelope)
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"
cd "$(dirname "$0")/../fuzz"
mkdir -p target

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

max_len() {
    case "$1" in
        http_upgrade) echo 12288 ;;
        *) echo 4096 ;;
    esac
}

echo "== building (sanitizer: $sanitizer)"
for target in "${targets[@]}"; do
    if ! cargo fuzz build -s "$sanitizer" "$target" >"target/build-$target.log" 2>&1; then
        tail -n 30 "target/build-$target.log" >&2
        echo "FAIL: building $target" >&2
        exit 1
    fi
done

status=0
summary=()
for target in "${targets[@]}"; do
    regressions=(regressions/"$target"/*)
    if [ -e "${regressions[0]}" ]; then
        echo "== $target: replaying ${#regressions[@]} saved crash input(s)"
        if ! cargo fuzz run -s "$sanitizer" "$target" "${regressions[@]}" -- -runs=1 >"target/replay-$target.log" 2>&1; then
            grep -E -A1 "panicked at" "target/replay-$target.log" | tail -n 20 >&2 || true
            echo "FAIL: $target: a saved crash input still fails (log: fuzz/target/replay-$target.log)" >&2
            status=1
        fi
    fi

    mkdir -p "corpus/$target" "seeds/$target"
    log="target/fuzz-$target.log"
    echo "== $target: fuzzing for ${seconds}s"
    set +e
    cargo fuzz run -s "$sanitizer" -j "$jobs" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=20 -print_final_stats=1 \
        >"$log" 2>&1
    code=$?
    set -e
    done_line="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)"
    execs="$(grep -m1 -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
    rate="$(grep -m1 -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)"
    corpus="$(find "corpus/$target" -type f | wc -l)"
    line="$target: runs=${execs:-?} exec/s=${rate:-?} corpus_files=$corpus last: ${done_line:-?}"
    echo "$line"
    summary+=("$line")
    if [ "$code" -ne 0 ]; then
        grep -E -A1 "panicked at|Test unit written" "$log" | tail -n 20 >&2 || true
        echo "FAIL: $target crashed (exit $code, log: fuzz/$log); minimize the artifact and keep it under fuzz/regressions/$target/" >&2
        status=1
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"

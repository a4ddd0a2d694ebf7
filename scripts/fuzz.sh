#!/usr/bin/env bash
# Builds the libFuzzer harnesses (the fuzz preset: clang, ASan + UBSan) and runs each for a fixed
# time, SECONDS (default 60), from its seed corpus in tests/fuzz/corpus, two at a time. Prints the
# executions each ran. A harness that crashes fails the run; its input is kept in
# build-fuzz/crashes/NAME/ and, once the bug is fixed, joins tests/fuzz/corpus/NAME/ (CTest
# replays that corpus in every build).
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_harness() {
    local name=$1 max_len=$2
    local crashes=build-fuzz/crashes/$name
    mkdir -p "$work/$name" "$crashes"
    # The seed directory comes second: new inputs go to the scratch corpus, never the source tree.
    if ! build-fuzz/tests/fuzz/fuzz_"$name" -max_total_time="$seconds" -max_len="$max_len" \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$work/$name" "tests/fuzz/corpus/$name" >"$work/$name.log" 2>&1; then
        echo "=== fuzz $name: FAILED (input kept in $crashes/)"
        grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$work/$name.log" | head -20 || tail -30 "$work/$name.log"
        return 1
    fi
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
    echo "=== fuzz $name: ${runs:-?} executions in ${seconds} s, no fault"
}

status=0
for pair in "elf:65536 dwarf:65536" "folded:16384 python:32776"; do
    pids=()
    for harness in $pair; do
        run_harness "${harness%%:*}" "${harness##*:}" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || status=1
    done
done
exit $status

#!/usr/bin/env bash
# Runs the suite several times in a row on a busy machine: one CPU-bound process per core for
# the whole time, so shares, tolerances and time-outs that only hold on an idle machine show up.
# Stops at the first round that fails. Arguments after the options go to ctest, to narrow it.
#   scripts/stress-test.sh [--rounds N] [--preset default|asan] [ctest arguments...]
#   scripts/stress-test.sh --rounds 1 -R "integration:record"
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
preset=default
while (($#)); do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --preset) preset=$2; shift 2 ;;
        *) break ;;
    esac
done
./scripts/build.sh "$preset"

hogs=()
stop_hogs() {
    for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
for ((core = 0; core < $(nproc); ++core)); do
    (while :; do :; done) &
    hogs+=($!)
done
echo "stress-test: ${#hogs[@]} CPU-bound processes running (one per core)"

for ((round = 1; round <= rounds; ++round)); do
    echo "=== stress-test: round $round of $rounds"
    if ! ctest --preset "$preset" "$@"; then
        echo "=== stress-test: round $round failed"
        exit 1
    fi
done
echo "=== stress-test: $rounds rounds passed"

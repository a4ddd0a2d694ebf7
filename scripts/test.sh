#!/usr/bin/env bash
# Quick-start command 2 (and CI): install, build, and run the whole suite through CTest, in the
# normal build and in the ASan + UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
status=0
for preset in default asan; do
    echo "=== build and test: $preset"
    ./scripts/build.sh "$preset"
    # The sanitizer build runs each integration suite once, on the default (perf_event) engine;
    # the normal build also runs them on the ptrace engine.
    exclude=()
    [[ $preset == asan ]] && exclude=(-E "ptrace: every")
    ctest --preset "$preset" "${exclude[@]}" || status=1
done
exit $status

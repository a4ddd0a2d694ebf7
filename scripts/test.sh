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
    ctest --preset "$preset" || status=1
done
exit $status

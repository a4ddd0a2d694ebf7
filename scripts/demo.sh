#!/usr/bin/env bash
# Quick-start command 1: install, build, start the bundled demo service, record it for a few
# seconds with `sampler record`, and write a flame graph.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh default

./build/demo/demo_service 30 &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
sleep 0.5

output=${1:-$PWD/demo-flamegraph.svg}
./build/src/sampler record --pid "$service" --duration 5 --output "$output"
echo
echo "Open the flame graph in a browser: file://$output"

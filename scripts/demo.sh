#!/usr/bin/env bash
# Quick-start command 1: install, build, start the bundled demo service (an asyncio JSON service
# and its clients, in Python), record it for a few seconds with `sampler record`, and write a
# flame graph with Python frames.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh default

# Debian's own interpreter when there is one: the quick start targets a fresh Debian 12.
python=$(command -v /usr/bin/python3 || command -v python3)
"$python" demo/demo_service.py 60 &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
sleep 1

output=${1:-$PWD/demo-flamegraph.svg}
./build/src/sampler record --pid "$service" --duration 5 --output "$output"
echo
echo "Open the flame graph in a browser: file://$output"

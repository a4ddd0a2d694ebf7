#!/usr/bin/env bash
# Configures and builds one CMake preset: default (RelWithDebInfo) or asan (ASan + UBSan).
set -euo pipefail
preset=${1:-default}
cd "$(dirname "$0")/.."
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"

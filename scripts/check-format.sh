#!/usr/bin/env bash
# The C and C++ sources must be formatted as .clang-format (at the root) says: fails and names
# the lines otherwise. scripts/test.sh, and so CI, runs it. `--fix` reformats them in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(--dry-run -Werror)
[[ ${1:-} == --fix ]] && mode=(-i)
mapfile -d '' files < <(find include src unwind symbolize output tests bench -type f \
    \( -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -print0 | sort -z)
clang-format "${mode[@]}" "${files[@]}"

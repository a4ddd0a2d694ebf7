#!/usr/bin/env bash
# Installs what building and testing sampler needs, from Debian 12 packages, then the pyenv
# CPythons the Python tests run against (scripts/install-pythons.sh). Idempotent: what is already
# present is left alone, and apt's lists are refreshed only when something is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libunwind-dev libelf-dev libdw-dev elfutils
    libbpf-dev # loading the BPF Python walker (compiled by clang, below)
    libcli11-dev catch2 nlohmann-json3-dev zlib1g-dev
    liblzma-dev libbz2-dev # with the -dev packages above: the static archives of a self-contained build
    python3
    binutils procps
    dwz # a program whose DWARF refers to a common file, as Debian's debug packages do (tests/integration/test_record.cpp)
    libncurses-dev tmux
    clang libclang-rt-14-dev # the BPF Python walker (clang -target bpf); the fuzz harnesses: libFuzzer and the sanitizers' runtimes
    gunicorn   # a real worker pool for `top --by-process` (tests/integration/test_worker_pools.cpp)
    # real asyncio servers and uvloop for `record --asyncio` (tests/integration/test_asyncio_servers.cpp)
    python3-aiohttp python3-fastapi python3-uvicorn python3-uvloop
)

# Tools the tests run, by the command they need: a machine may have them from elsewhere (Node's
# own packages bring npm, which Debian's npm package would conflict with).
declare -A tools=(
    [clang-format]=clang-format   # scripts/check-format.sh
    [gdb]=gdb                     # libpython offsets against DWARF (tests/python)
    [go]=golang-go                # go tool pprof reads our pprof files
    [xmllint]=libxml2-utils       # flame graph SVGs are well-formed XML
    [node]=nodejs [npm]=npm       # speedscope's schema, playwright-core (tests/browser)
    [chromium]=chromium           # the flame graph in a browser (tests/browser)
)

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
for command in "${!tools[@]}"; do
    command -v "$command" >/dev/null || missing+=("${tools[$command]}")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$(dirname "$0")/install-pythons.sh"

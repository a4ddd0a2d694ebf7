#!/usr/bin/env bash
# Installs what building and testing sampler needs, from Debian 12 packages. Idempotent: packages
# already present are left alone, and apt's lists are refreshed only when something is missing.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libunwind-dev libelf-dev libdw-dev elfutils
    libcli11-dev catch2 nlohmann-json3-dev zlib1g-dev
    python3
    binutils procps
    libncurses-dev tmux
)

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

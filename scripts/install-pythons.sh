#!/usr/bin/env bash
# Installs the CPythons the Python tests run against, with pyenv: 2.7 and 3.6-3.13, built with
# --enable-shared (the DWARF tests read each libpython). Idempotent: a minor version that pyenv
# already has in any patch release is left alone, so a machine that has them all does nothing.
# Building all nine from source takes most of an hour on two cores (python-build also builds an
# OpenSSL 1.1 for 2.7 and 3.6, which do not build against Debian 12's OpenSSL 3).
set -euo pipefail

# The patch releases the suite was last run against; any patch release of the minor will do.
versions=(2.7.18 3.6.15 3.7.16 3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0)

# CPython's build dependencies (Debian 12).
build_packages=(git curl build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev
    libsqlite3-dev libncurses-dev libffi-dev liblzma-dev uuid-dev tk-dev xz-utils)

export PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
pyenv=$(command -v pyenv || echo "$PYENV_ROOT/bin/pyenv")

missing=()
for version in "${versions[@]}"; do
    minor=${version%.*}
    compgen -G "$PYENV_ROOT/versions/$minor.*/bin/python" >/dev/null || missing+=("$version")
done
((${#missing[@]})) || exit 0

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}
echo "install-pythons: building CPython ${missing[*]} with pyenv in $PYENV_ROOT"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${build_packages[@]}"
if [[ ! -x $pyenv ]]; then
    git clone --depth 1 https://github.com/pyenv/pyenv.git "$PYENV_ROOT"
    pyenv=$PYENV_ROOT/bin/pyenv
fi
for version in "${missing[@]}"; do
    PYTHON_CONFIGURE_OPTS=--enable-shared MAKE_OPTS=-j"$(nproc)" "$pyenv" install --skip-existing "$version"
done

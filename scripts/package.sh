#!/usr/bin/env bash
# Packages the self-contained `sampler` (the default preset: only glibc's own libraries shared)
# for hosts that have no compiler and none of its libraries. Writes to the output directory:
#   sampler-VERSION-x86_64-linux.tar.gz  sampler (stripped), sampler.debug (its debug info, which
#                                        gdb and perf find through the binary's .gnu_debuglink),
#                                        sampler.1 (the man page), README.md
#   sampler_VERSION_amd64.deb            /usr/bin/sampler and its man page
# and prints the binary's size and the newest glibc symbol version it needs (its glibc floor).
#
#   scripts/package.sh [--no-build] [--build-dir DIR] [--out DIR]
#
# --no-build packages what the build directory (default build/) already holds; the default builds
# the sampler and its man page there first. Output goes to dist/ unless --out says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
out_dir=dist
build=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-build) build=0 ;;
        --build-dir) build_dir=$2; shift ;;
        --out) out_dir=$2; shift ;;
        *) echo "usage: $0 [--no-build] [--build-dir DIR] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done

if [[ $build == 1 ]]; then
    cmake --preset default >/dev/null
    cmake --build "$build_dir" --parallel 2 --target sampler sampler_man_page
fi
cache="$build_dir/CMakeCache.txt"
if ! grep -q '^SAMPLER_SELF_CONTAINED:BOOL=ON$' "$cache" 2>/dev/null; then
    echo "package: $build_dir is not a self-contained build (configure it with -DSAMPLER_SELF_CONTAINED=ON," \
         "as the default preset does)" >&2
    exit 1
fi
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$cache")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# What `cmake --install` puts under a prefix is what both packages hold.
cmake --install "$build_dir" --prefix "$stage/usr" >/dev/null
binary="$stage/usr/bin/sampler"
man_page="$stage/usr/share/man/man1/sampler.1"

# Debug info split off: the shipped binary is small, and the symbols stay at hand for a crash.
objcopy --only-keep-debug --compress-debug-sections=zlib "$binary" "$stage/sampler.debug"
objcopy --strip-debug --strip-unneeded "$binary"
(cd "$stage" && objcopy --add-gnu-debuglink=sampler.debug usr/bin/sampler)

# Only glibc's own libraries may stay shared.
unexpected=$(ldd "$binary" | awk '{print $1}' |
    grep -Ev '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|/lib64/ld-linux-x86-64\.so\.2)$' || true)
if [[ -n $unexpected ]]; then
    echo "package: the binary needs libraries besides glibc's:" $unexpected >&2
    exit 1
fi
glibc_floor=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)

mkdir -p "$out_dir"
name="sampler-$version-x86_64-linux"
mkdir "$stage/$name"
cp "$binary" "$stage/sampler.debug" "$man_page" README.md "$stage/$name/"
tar -C "$stage" -czf "$out_dir/$name.tar.gz" "$name"

deb="$stage/deb"
mkdir -p "$deb/DEBIAN" "$deb/usr/bin" "$deb/usr/share/man/man1"
cp "$binary" "$deb/usr/bin/sampler"
gzip -9n -c "$man_page" > "$deb/usr/share/man/man1/sampler.1.gz"
cat > "$deb/DEBIAN/control" <<EOF
Package: sampler
Version: $version
Architecture: amd64
Maintainer: sampler developers <sampler@localhost>
Depends: libc6 (>= $glibc_floor)
Section: devel
Priority: optional
Installed-Size: $(du -sk "$deb/usr" | cut -f1)
Description: sampling profiler that attaches to a running process by PID
 Samples native (C, C++) and Python (CPython 2.7 to 3.13) stacks of a running
 process without restarting it: a live top view, flame graphs and other
 profile formats, and one-off stack dumps.
EOF
dpkg-deb --root-owner-group --build "$deb" "$out_dir/sampler_${version}_amd64.deb" >/dev/null

size() { stat -c %s "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
echo "package: $out_dir/$name.tar.gz ($(size "$out_dir/$name.tar.gz"))"
echo "package: $out_dir/sampler_${version}_amd64.deb ($(size "$out_dir/sampler_${version}_amd64.deb"))"
echo "package: sampler $(size "$binary") stripped, debug info $(size "$stage/sampler.debug") beside it"
echo "package: needs glibc $glibc_floor or newer (its newest versioned symbol); no other shared library"

#!/usr/bin/env bash
# Overhead benchmark for sampler. Native section: the fixture's slowdown under sampler and under
# perf at 100 Hz and 1000 Hz, sampler's pause per sample (also with a 64-deep stack) and its CPU per
# sample. Python section: the same for a pure-Python workload under pyenv's CPython 3.12 and
# Debian's 3.11, Python frames only and --native (also with a 50-deep Python stack).
# Run by hand (~5 minutes); see bench/README.md. Options go to bench.py (--only native|python,
# --runs N, --rounds N, --depth N, --no-perf, --python-runs N, --python-seconds S, --interpreter
# PATH, ...). BUILD_DIR overrides the build directory (default: build/ in the tree).
# `bench/run.sh engines` instead compares the capture engines (perf_event, ptrace) and perf:
# CPU per sample, share of the rate kept, the target's system time (bench/engines.py).
# `bench/run.sh soak` runs record and top --native for 30 minutes on a 16-thread Python target and
# reports their resident memory at the start, after a minute and at the end (bench/soak.py).
# `bench/run.sh web` measures a gunicorn service's p99 latency and throughput under wrk, unprofiled
# and profiled by sampler --subprocesses and perf (bench/web.py; needs gunicorn and wrk).
# `bench/run.sh switches` measures what each profiler adds to a context switch of its target
# (bench/switches.py).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
sampler="$build/src/sampler"
workload="$build/tests/fixtures/workload"

build_targets() {
    echo "bench: building $* in $build" >&2
    if [[ ! -f $build/CMakeCache.txt ]]; then
        cmake -S "$root" -B "$build" >&2
    fi
    cmake --build "$build" -j2 --target "$@" >&2
}

# `bench/run.sh web [...]`: a web service under load (bench/web.py); it needs sampler only.
if [[ ${1:-} == web ]]; then
    shift
    [[ -x $sampler ]] || build_targets sampler
    [[ -x $sampler ]] || { echo "bench: $sampler is missing after the build" >&2; exit 1; }
    exec python3 "$here/web.py" --root "$root" --sampler "$sampler" "$@"
fi

# `bench/run.sh soak [--minutes M]`: sampler's memory over a long run (bench/soak.py).
if [[ ${1:-} == soak ]]; then
    shift
    [[ -x $sampler ]] || build_targets sampler
    [[ -x $sampler ]] || { echo "bench: $sampler is missing after the build" >&2; exit 1; }
    exec python3 "$here/soak.py" --sampler "$sampler" \
        --python-workload "$root/tests/fixtures/python_bench/workload.py" "$@"
fi

if [[ ! -x $sampler || ! -x $workload ]]; then
    build_targets sampler workload
fi
# A fixture built before the bench-deep and bench-threads modes existed must be rebuilt.
if ! "$workload" bench-deep 1 1 >/dev/null 2>&1 || ! "$workload" bench-threads 1 1 1 >/dev/null 2>&1 ||
    ! echo | "$workload" bench-switches 1 >/dev/null 2>&1; then
    build_targets workload
fi
for binary in "$sampler" "$workload"; do
    [[ -x $binary ]] || { echo "bench: $binary is missing after the build" >&2; exit 1; }
done

# `bench/run.sh switches [...]`: what a profiler adds to each context switch (bench/switches.py).
if [[ ${1:-} == switches ]]; then
    shift
    exec python3 "$here/switches.py" --root "$root" --sampler "$sampler" --workload "$workload" "$@"
fi

# `bench/run.sh engines [...]`: the capture engines side by side (bench/engines.py).
if [[ ${1:-} == engines ]]; then
    shift
    exec python3 "$here/engines.py" --sampler "$sampler" --workload "$workload" \
        --python-workload "$root/tests/fixtures/python_bench/workload.py" "$@"
fi
exec python3 "$here/bench.py" --root "$root" --sampler "$sampler" --workload "$workload" "$@"

#!/usr/bin/env bash
# Quick-start command 2 (and CI): install, check the formatting, build, and run the whole suite
# through CTest, in the normal build and in the ASan + UBSan build, then list what was skipped,
# whole or in part, then fuzz each harness for a fixed time (scripts/fuzz.sh).
# With SAMPLER_STRICT_SKIPS=1 (.ci/run sets it) or CI=true, a skipped test that
# tests/expected-skips.txt does not list fails the run: CI's machine has what every test needs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "=== dependencies installed (at ${SECONDS} s)"
status=0
if ! ./scripts/check-format.sh; then
    echo "=== sources not formatted as .clang-format says: scripts/check-format.sh --fix"
    status=1
fi
strict=()
[[ ${SAMPLER_STRICT_SKIPS:-} == 1 || ${CI:-} == true ]] && strict=(--strict)
skips=$(mktemp -d)
trap 'rm -rf "$skips"' EXIT
for preset in default asan; do
    echo "=== build and test: $preset (at ${SECONDS} s)"
    ./scripts/build.sh "$preset"
    echo "=== built $preset (at ${SECONDS} s)"
    # The sanitizer build runs each integration suite once, on the default (perf_event) engine
    # with its default clocks; the normal build also runs them on the ptrace engine, with clocks
    # per thread, and with Python frames read from the target (no BPF). (The capture tests run
    # both kinds of clocks in both builds.)
    exclude=()
    [[ $preset == asan ]] && exclude=(-E "ptrace: every|per-thread: the|no-bpf: the")
    # Tests that pass but left a part out (one interpreter of several missing) append it to
    # SAMPLER_SKIP_LOG; CTest itself only knows the wholly skipped ones.
    SAMPLER_SKIP_LOG="$skips/$preset.log" ctest --preset "$preset" "${exclude[@]}" \
        --output-junit "$skips/$preset.xml" || status=1
    ./scripts/skip_report.py "${strict[@]}" --title " ($preset)" --allowed tests/expected-skips.txt \
        "$skips/$preset.xml" "$skips/$preset.log" || status=1
done
# Fuzzing, a fixed time per harness (SAMPLER_FUZZ_SECONDS, default 30; 0 skips it).
fuzz_seconds=${SAMPLER_FUZZ_SECONDS:-30}
if [[ $fuzz_seconds != 0 ]]; then
    echo "=== fuzz: ${fuzz_seconds} s per harness (at ${SECONDS} s)"
    ./scripts/fuzz.sh "$fuzz_seconds" || status=1
fi
echo "=== done in ${SECONDS} s"
exit $status

#pragma once
// Reads flamegraph.pl-compatible folded stacks (ours, perf script | stackcollapse-perf.pl,
// py-spy --format raw) back into a Profile, so any of them can be rendered or compared.

#include "sampler/profile.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace sampler {

// More samples than any real profile holds (285 years at 1 MHz); below it every count and
// difference is exact as a double and as a signed 64-bit number, which the renderers rely on.
constexpr std::uint64_t max_folded_samples = std::uint64_t{1} << 53;

struct FoldedInput {
    Profile profile;
    std::uint64_t lines = 0;                // stack lines read
    std::uint64_t malformed = 0;            // lines skipped: no count, a count that is not a number, no stack
    std::uint64_t first_malformed_line = 0; // 1-based; 0 when none
    // 1-based line whose count took the total past max_folded_samples (reading stopped there: the
    // input is not a profile); 0 when none.
    std::uint64_t too_large_line = 0;
};

// Blank lines are ignored. A line is `frame;frame;... COUNT`, split at its last space run.
FoldedInput read_folded(std::string_view text);

// What `text` is when it is plainly another format ("an SVG file", "gzip-compressed (pprof?)",
// "JSON"), so that it is refused rather than read as folded stacks; empty otherwise.
std::string_view other_format(std::string_view text);

// Colour family from a label alone, since folded files carry nothing else:
// `name (file.py:N)` python; `[k]` / `_[k]` suffix kernel; `0x...` or `module+0x...` unknown;
// anything else native.
FrameKind guess_frame_kind(std::string_view label);

} // namespace sampler

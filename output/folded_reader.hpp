#pragma once
// Reads flamegraph.pl-compatible folded stacks (ours, perf script | stackcollapse-perf.pl,
// py-spy --format raw) back into a Profile, so any of them can be rendered or compared.

#include "sampler/profile.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace sampler {

struct FoldedInput {
    Profile profile;
    std::uint64_t lines = 0;     // stack lines read
    std::uint64_t malformed = 0; // lines skipped: no count, a count that is not a number, no stack
    std::uint64_t first_malformed_line = 0; // 1-based; 0 when none
};

// Blank lines are ignored. A line is `frame;frame;... COUNT`, split at its last space run.
FoldedInput read_folded(std::string_view text);

// Colour family from a label alone, since folded files carry nothing else:
// `name (file.py:N)` python; `[k]` / `_[k]` suffix kernel; `0x...` or `module+0x...` unknown;
// anything else native.
FrameKind guess_frame_kind(std::string_view label);

} // namespace sampler

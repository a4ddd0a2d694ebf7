#pragma once
// Everything an output needs: the aggregated call tree, its frames, and facts about the run.

#include "sampler/call_tree.hpp"

#include <cstdint>
#include <string>

namespace sampler {

struct ProfileInfo {
    int pid = 0;
    std::string command_line; // the target's command line, for titles
    std::string title;        // overrides the default title when not empty
    double duration_seconds = 0;
    double requested_rate_hz = 0;
    std::uint64_t samples = 0; // sampling ticks taken
    std::uint64_t errors = 0;  // thread samples that could not be taken or unwound
};

struct Profile {
    FrameTable frames;
    CallTree tree;
    ProfileInfo info;

    FrameId intern(const Frame& frame) { return frames.intern(frame); }
};

} // namespace sampler

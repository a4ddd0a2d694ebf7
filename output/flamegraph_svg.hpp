#pragma once
// An interactive flame graph as one self-contained SVG file: hover for details, click to zoom,
// Ctrl-F / "Search" to highlight frames matching a regex. Script and style are embedded, so the
// file opens in a browser with no network.

#include "sampler/profile.hpp"

#include <string>

namespace sampler {

struct FlamegraphOptions {
    std::string title;             // empty: profile.info.title, or "sampler: <command line>"
    bool inverted = false;         // icicle graph: root at the top, stacks grow down
    double min_width_pixels = 0.1; // narrower frames (and everything above them) are left out
    int width_pixels = 1200;
    int frame_height_pixels = 16;
    // Differential flame graph: widths still come from the profile rendered (AFTER); each frame
    // is coloured by how its share of all samples changed from this one (BEFORE), and its
    // tooltip shows both shares. Must outlive the call.
    const Profile* before = nullptr;
};

std::string render_flamegraph_svg(const Profile& profile, const FlamegraphOptions& options = {});

} // namespace sampler

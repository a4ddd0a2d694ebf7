#pragma once
// speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json): frames
// shared by all profiles, one "sampled" profile per thread, named after it, its samples in time
// order (root frame first), each weighing one sampling interval in seconds.

#include "sampler/profile.hpp"

#include <string>

namespace sampler {

// `exporter` is written as is, e.g. "sampler@0.1.0". Needs profile.timeline; a profile without
// one (not recorded with a timeline) becomes one profile of its distinct stacks, weighted.
std::string render_speedscope(const Profile& profile, const std::string& exporter);

} // namespace sampler

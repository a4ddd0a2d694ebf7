#pragma once
// flamegraph.pl-compatible "folded" stacks: one line per distinct stack, outermost frame first,
// frames joined by ';', then a space and the sample count.

#include "sampler/profile.hpp"

#include <string>

namespace sampler {

std::string render_folded(const Profile& profile);

// A frame label made safe for one folded field: no ';' (the separator) and no line breaks.
std::string folded_field(const std::string& label);

} // namespace sampler

#pragma once
// Chrome's trace event format (JSON object form), for Perfetto and chrome://tracing: per thread,
// a B (begin) event when a frame appears on the sampled stack and an E (end) event when it goes,
// comparing consecutive samples of that thread. A thread not sampled for longer than two and a
// half intervals (idle, or gone) closes its frames one interval after its last sample, so a
// span never covers time in which nothing was seen.

#include "sampler/profile.hpp"

#include <string>

namespace sampler {

// Needs profile.timeline; without one the trace holds only metadata events.
std::string render_chrome_trace(const Profile& profile, const std::string& exporter);

} // namespace sampler

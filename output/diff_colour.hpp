#pragma once
// Colours of a differential flame graph: red where a frame's share of all samples grew from
// BEFORE to AFTER, blue where it shrank, near-white where it stayed; the deeper the colour, the
// larger the change relative to the largest change in the graph.

#include <string>

namespace sampler {

// Shares are fractions of each profile's total (0..1); `largest_change` is the largest
// |after - before| over all frames (0: everything is unchanged). Returns a CSS rgb() colour.
std::string diff_colour(double before_share, double after_share, double largest_change);

} // namespace sampler

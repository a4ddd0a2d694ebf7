#include "diff_colour.hpp"

#include <algorithm>
#include <cmath>

namespace sampler {

std::string diff_colour(double before_share, double after_share, double largest_change) {
    const double change = after_share - before_share;
    const double intensity =
        largest_change > 0 ? std::clamp(std::fabs(change) / largest_change, 0.0, 1.0) : 0.0;
    // Keep a little colour even for the smallest change, so "changed a bit" and "unchanged" differ.
    const double depth = change == 0 ? 0.0 : 0.12 + 0.88 * intensity;
    const int strong = 245;
    const int faded = static_cast<int>(std::lround(245 - 200 * depth));
    const int red = change > 0 ? strong : faded;
    const int blue = change < 0 ? strong : faded;
    return "rgb(" + std::to_string(red) + "," + std::to_string(faded) + "," + std::to_string(blue) + ")";
}

} // namespace sampler

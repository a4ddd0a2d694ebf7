#include "pause_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace sampler {

void PauseHistogram::add(std::uint64_t nanoseconds) {
    std::uint64_t micros = nanoseconds / 1000;
    ++buckets_[std::min<std::uint64_t>(micros, bucket_count)];
    ++count_;
    max_micros_ = std::max(max_micros_, micros);
}

std::uint64_t PauseHistogram::percentile_micros(double fraction) const {
    if (count_ == 0)
        return 0;
    auto wanted = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
    wanted = std::clamp<std::uint64_t>(wanted, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t micros = 0; micros <= bucket_count; ++micros) {
        seen += buckets_[micros];
        if (seen >= wanted)
            return micros == bucket_count ? max_micros_ : micros;
    }
    return max_micros_;
}

} // namespace sampler

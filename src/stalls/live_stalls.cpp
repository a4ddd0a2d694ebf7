#include "live_stalls.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace sampler {

void LiveStalls::add(const Stall& ended) {
    window_.push_back({ended.pid, ended.tid, ended.start_ns, ended.duration_ns});
    culprits_.add(ended);
}

StallWindowCounts LiveStalls::end_window(std::uint64_t start_ns, std::uint64_t end_ns,
                                         const std::vector<Stall>& open) {
    std::vector<Span> spans = std::move(window_);
    window_.clear();
    for (const Stall& stall : open)
        spans.push_back({stall.pid, stall.tid, stall.start_ns, stall.duration_ns});
    StallWindowCounts counts;
    std::map<std::pair<int, int>, std::uint64_t> blocked_ns; // by loop thread
    for (const Span& span : spans) {
        ++counts.count;
        counts.longest_ns = std::max(counts.longest_ns, span.duration_ns);
        // Only the part inside the window: a stall's start is an estimate, so it may even lie
        // wholly before it (told late), and then adds nothing.
        const std::uint64_t from = std::max(span.start_ns, start_ns);
        const std::uint64_t to = std::min(span.start_ns + span.duration_ns, end_ns);
        if (to > from)
            blocked_ns[{span.pid, span.tid}] += to - from;
    }
    const std::uint64_t length = end_ns > start_ns ? end_ns - start_ns : 0;
    for (const auto& [loop, ns] : blocked_ns)
        if (length > 0)
            // Two runs' estimated ends may overlap by a fraction of a sample interval.
            counts.blocked_share = std::max(counts.blocked_share, std::min(1.0, double(ns) / double(length)));
    return counts;
}

std::vector<StallSummary::Culprit> LiveStalls::culprits(const std::vector<Stall>& open) const {
    if (open.empty())
        return culprits_.ranked();
    CulpritTally with_open = culprits_;
    for (const Stall& stall : open)
        with_open.add(stall);
    return with_open.ranked();
}

} // namespace sampler

#include "covered_time.hpp"

#include <algorithm>
#include <iterator>

namespace sampler {

void CoveredTime::add(std::uint64_t begin_ns, std::uint64_t end_ns) {
    begin_ns = std::max(begin_ns, settled_until_);
    if (end_ns <= begin_ns)
        return;
    latest_end_ = std::max(latest_end_, end_ns);
    auto at = open_.upper_bound(begin_ns);
    if (at != open_.begin() && std::prev(at)->second >= begin_ns) {
        --at;
        // Most often (a thread's samples one after another) it only lengthens the span it
        // begins in: done in place, without a new node per sample.
        if (const auto after = std::next(at); after == open_.end() || after->first > end_ns) {
            if (end_ns > at->second) {
                open_ns_ += end_ns - at->second;
                at->second = end_ns;
            }
            settle();
            return;
        }
    }
    // Merged with every open span it touches.
    while (at != open_.end() && at->first <= end_ns) {
        begin_ns = std::min(begin_ns, at->first);
        end_ns = std::max(end_ns, at->second);
        open_ns_ -= at->second - at->first;
        at = open_.erase(at);
    }
    open_.emplace(begin_ns, end_ns);
    open_ns_ += end_ns - begin_ns;
    settle();
}

void CoveredTime::settle() {
    // Settles what ended a window before the latest: bounded, whatever the rate.
    while (!open_.empty() && open_.begin()->second + window_ns < latest_end_) {
        const auto oldest = open_.begin();
        const std::uint64_t length = oldest->second - oldest->first;
        open_ns_ -= length;
        settled_ns_ += length;
        settled_until_ = oldest->second;
        open_.erase(oldest);
    }
}

} // namespace sampler

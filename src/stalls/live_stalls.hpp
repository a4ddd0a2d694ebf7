#pragma once
// Stalls as a live view (`top --asyncio`) counts them: what the last refresh window saw, for its
// header, and the culprits since the start (or a reset), for its table. Keeps the spans of the
// stalls of the current window only, and the culprits summed, however long it runs. Pure: fed
// made-up stalls in its tests.

#include "stall_detector.hpp"
#include "stall_text.hpp"

#include <cstdint>
#include <vector>

namespace sampler {

struct StallWindowCounts {
    // Stalls that ended in the window or were still running at its end: a stall that spans
    // windows counts in each.
    std::uint64_t count = 0;
    std::uint64_t longest_ns = 0; // of those, their whole durations (so far, for a running one)
    // The stall time inside the window of the loop thread blocked the most, over the window's
    // length: 0 to 1. With loops on several threads, the worst one: a sum could pass 100%, and
    // an average would hide a loop blocked all the time among idle ones.
    double blocked_share = 0;
};

class LiveStalls {
  public:
    // A stall as it ended (StallWatch::take_stalls).
    void add(const Stall& ended);
    // Ends the window [start_ns, end_ns) (CLOCK_MONOTONIC); `open` are the runs still going
    // that are stalls already (StallWatch::open_stalls).
    StallWindowCounts end_window(std::uint64_t start_ns, std::uint64_t end_ns,
                                 const std::vector<Stall>& open);
    // Culprits since the start or reset(), the running stalls included, by blocked time.
    std::vector<StallSummary::Culprit> culprits(const std::vector<Stall>& open) const;
    // The culprits start again (key R); the current window goes on.
    void reset() { culprits_.clear(); }

  private:
    struct Span {
        int pid = 0;
        int tid = 0;
        std::uint64_t start_ns = 0;
        std::uint64_t duration_ns = 0;
    };
    std::vector<Span> window_; // stalls ended in the current window
    CulpritTally culprits_;
};

} // namespace sampler

#pragma once
// How much time a set of spans covers (their union), for the perf engine's shares: each sample
// stands for the span of its clock's period that ended at it (the clock ticked at its start and
// at the sample), so a thread that ran throughout is covered throughout, however the periods were
// drawn. Spans from different rings arrive out of order by up to a few drains: those are merged
// while they are recent; a span older than the window is settled and clipped.

#include <cstdint>
#include <map>

namespace sampler {

class CoveredTime {
  public:
    // Spans kept apart at most this long before they are settled: a few drains.
    static constexpr std::uint64_t window_ns = 2'000'000'000;

    void add(std::uint64_t begin_ns, std::uint64_t end_ns);
    std::uint64_t covered_ns() const { return settled_ns_ + open_ns_; }

  private:
    void settle();

    std::map<std::uint64_t, std::uint64_t> open_; // begin -> end: disjoint, recent
    std::uint64_t open_ns_ = 0;                   // their length
    std::uint64_t settled_ns_ = 0;
    std::uint64_t settled_until_ = 0; // nothing before this counts again
    std::uint64_t latest_end_ = 0;
};

} // namespace sampler

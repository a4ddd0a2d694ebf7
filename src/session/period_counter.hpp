#pragma once
// Counts distinct sampling periods (the perf engine's "rounds": a period in which some thread
// was sampled) in fixed memory and constant time per sample. Samples from different rings
// arrive out of order, but only by a few drains: a period older than the window is taken as
// counted already.

#include <cstdint>
#include <vector>

namespace sampler {

class PeriodCounter {
  public:
    // Periods held apart at most: 65536 is over a minute at 1000 Hz.
    static constexpr std::uint64_t window = 1u << 16;

    PeriodCounter() : bits_(window / 64, 0) {}
    void add(std::uint64_t period);
    std::uint64_t count() const { return count_; }

  private:
    std::vector<std::uint64_t> bits_; // a ring: period p is bit p % window
    std::uint64_t base_ = 0;          // the oldest period the ring holds (a multiple of 64)
    std::uint64_t count_ = 0;
};

} // namespace sampler

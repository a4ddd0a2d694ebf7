#pragma once
// Distribution of per-sample pauses in microseconds, in fixed memory however long the run.

#include <cstdint>
#include <vector>

namespace sampler {

class PauseHistogram {
  public:
    void add(std::uint64_t nanoseconds);
    std::uint64_t count() const { return count_; }
    // The pause in microseconds below which `fraction` (0..1] of the samples fall.
    std::uint64_t percentile_micros(double fraction) const;
    std::uint64_t max_micros() const { return max_micros_; }

  private:
    static constexpr std::size_t bucket_count = 20000; // 1 µs buckets up to 20 ms, then one more
    // On the heap: 160 KiB would crowd the stack (and our own stack copies when profiled).
    std::vector<std::uint64_t> buckets_ = std::vector<std::uint64_t>(bucket_count + 1);
    std::uint64_t count_ = 0;
    std::uint64_t max_micros_ = 0;
};

} // namespace sampler

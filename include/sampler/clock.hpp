#pragma once
// Reading a kernel clock as nanoseconds. Samples, stalls and ticks are all timed on
// CLOCK_MONOTONIC, the clock perf_event records carry, so times from each can be compared.

#include <cstdint>
#include <ctime>

namespace sampler {

inline std::uint64_t clock_ns(clockid_t clock) {
    timespec now{};
    clock_gettime(clock, &now);
    return std::uint64_t(now.tv_sec) * 1'000'000'000u + std::uint64_t(now.tv_nsec);
}

inline std::uint64_t monotonic_ns() {
    return clock_ns(CLOCK_MONOTONIC);
}

} // namespace sampler

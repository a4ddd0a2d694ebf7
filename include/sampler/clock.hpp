#pragma once
// Reading a kernel clock as nanoseconds. Samples, stalls and ticks are all timed on
// CLOCK_MONOTONIC, the clock perf_event records carry, so times from each can be compared.

#include <chrono>
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

// steady_clock reads CLOCK_MONOTONIC on Linux: its time points and the nanoseconds samples and
// stalls carry convert one into the other.
inline std::uint64_t monotonic_ns(std::chrono::steady_clock::time_point at) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count());
}

inline std::chrono::steady_clock::time_point steady_at(std::uint64_t monotonic) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(monotonic));
}

} // namespace sampler

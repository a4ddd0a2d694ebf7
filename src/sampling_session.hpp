#pragma once
// The sampling loop of `record`: every tick, stop each thread just long enough to copy its
// registers and stack, then unwind, symbolize and aggregate while it runs on.

#include "pause_histogram.hpp"
#include "profile_builder.hpp"
#include "sampler/profile.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>

namespace sampler {

struct SessionOptions {
    int pid = 0;
    bool target_is_child = false; // started by us: reap it when it exits
    double rate_hz = 100;
    double duration_seconds = 0; // 0: until Ctrl-C or the target exits
    bool include_idle = false;   // also sample threads that are not running
    AggregationOptions aggregation;
    std::size_t max_stack_bytes = 64 * 1024;
    std::size_t max_depth = 1024;
};

enum class StopReason { stop_signal, duration, target_exited };

struct SessionReport {
    std::uint64_t ticks = 0;          // sampling rounds over all threads
    std::uint64_t thread_samples = 0; // stacks added to the profile
    std::uint64_t errors = 0;         // threads that could not be captured or unwound
    std::uint64_t truncated = 0;      // stacks whose unwinding stopped early
    std::uint64_t late_ticks = 0;     // ticks that started later than planned
    double elapsed_seconds = 0;
    PauseHistogram pauses;
    StopReason reason = StopReason::stop_signal;
    int exit_status = -1; // the child's wait status when we started it and it ended

    double achieved_rate() const { return elapsed_seconds > 0 ? double(ticks) / elapsed_seconds : 0; }
};

// Samples until a stop signal, the duration, or the target's exit. `on_tick` (optional) runs
// after each tick, e.g. to redraw a live view.
SessionReport run_sampling_session(const SessionOptions& options, Profile& profile,
                                   const std::function<void(const SessionReport&)>& on_tick = {});

} // namespace sampler

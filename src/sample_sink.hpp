#pragma once
// What a sampling session reports, and the interface that receives its stacks.

#include "pause_histogram.hpp"
#include "proc_threads.hpp"
#include "sampler/frame.hpp"

#include <cstdint>
#include <vector>

namespace sampler {

enum class StopReason { stop_signal, duration, target_exited, sink };

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

// Receives what a session produces: `record` builds a Profile, `top` keeps its own tables.
class SampleSink {
  public:
    virtual ~SampleSink() = default;
    virtual void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) = 0;
    // After each round over the threads; returning false ends the session (StopReason::sink).
    virtual bool end_of_round(const SessionReport&) { return true; }
};

} // namespace sampler

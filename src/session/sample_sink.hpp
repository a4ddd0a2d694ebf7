#pragma once
// What a sampling session reports, and the interface that receives its stacks.

#include "pause_histogram.hpp"
#include "proc_threads.hpp"
#include "sampler/frame.hpp"
#include "sampler/profile.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sampler {

class ProcessSampler;
// The processes a session samples, by PID.
using ProcessSamplers = std::map<int, std::unique_ptr<ProcessSampler>>;

enum class StopReason { stop_signal, duration, target_exited, sink };

struct SessionReport {
    std::uint64_t ticks = 0;               // sampling rounds over all threads
    std::uint64_t thread_samples = 0;      // stacks added to the profile
    std::uint64_t errors = 0;              // threads that could not be captured or unwound
    std::uint64_t truncated = 0;           // stacks whose unwinding stopped early
    std::uint64_t late_ticks = 0;          // ticks that started later than planned
    std::uint64_t merge_mismatches = 0;    // --native stacks whose Python and native parts did not pair up
                                           // (recorded with their Python frames alone)
    std::uint64_t torn_python_samples = 0; // perf engine: Python reads that kept changing, dropped
    std::uint64_t gil_samples = 0;         // stacks of a thread holding the GIL (Python targets)
    std::uint64_t active_samples = 0;      // stacks of a thread that was running
    std::uint64_t gil_ticks = 0;           // rounds in which some thread held the GIL
    std::uint64_t active_ticks = 0;        // rounds in which some sampled thread was running
    std::size_t processes = 0;             // processes sampled in the last round
    std::vector<int> pids;                 // ... their PIDs, ascending
    std::string python_version;            // the main target's CPython version; empty when not Python
    double elapsed_seconds = 0;
    // sampler's own CPU time (user + system) while sampling, start-up (symbol loading) and
    // writing the output excluded: the profiler's cost per sample is this / thread_samples.
    double sampling_cpu_seconds = 0;
    std::uint64_t sampling_cpu_samples = 0; // thread samples taken in that window
    // The same from one second after the first samples on: the steady state, without the one-off
    // reading of each new stack's line tables and code objects (OwnCpuWindows).
    double steady_cpu_seconds = 0;
    std::uint64_t steady_cpu_samples = 0;
    PauseHistogram pauses;
    StopReason reason = StopReason::stop_signal;
    // The capture engine that ran: "perf_event" or "ptrace".
    std::string engine = "ptrace";
    // perf_event engine: samples the threads' CPU time called for (on-CPU seconds x rate), and
    // records the kernel dropped because a ring was full.
    double expected_samples = 0;
    std::uint64_t lost_samples = 0;
    bool kernel_time_excluded = false;  // perf_event without CAP_PERFMON: user mode only
    std::uint64_t execs = 0;            // processes that exec'd while sampled (sampled anew)
    std::uint64_t idle_samples = 0;     // perf_event --idle: stacks of threads off their CPU
    std::uint64_t received_samples = 0; // perf_event: samples of the target's threads read from the rings
    // perf_event, Python: stacks whose frames the kernel walked at the sample (BPF), and, when
    // it did not walk them, why (empty when it did, or when there were no Python frames to walk).
    std::uint64_t kernel_walked_samples = 0;
    std::string kernel_walk_unavailable;
    // perf_event: samples came from one clock per CPU (else one per thread), and why not when
    // they were wanted and the kernel refused.
    bool per_cpu_clocks = false;
    std::string per_cpu_refusal;
    // ... of which the CPU time behind expected_samples does not cover these (clocks per CPU:
    // those of processes that ended after their CPU time was last read).
    std::uint64_t uncovered_samples = 0;
    // Fewer samples called for than this tell nothing of the share kept: one sample more or less
    // moves it by 5% or more (a target asleep calls for none).
    static constexpr double min_expected_for_share = 20;
    // The share of the samples its CPU time called for that arrived; nullopt when too few were
    // called for to tell.
    std::optional<double> kept_share() const {
        if (expected_samples < min_expected_for_share)
            return std::nullopt;
        return double(covered_samples()) / expected_samples;
    }
    // The samples received that the CPU time behind expected_samples covers.
    std::uint64_t covered_samples() const {
        return received_samples - std::min(received_samples, uncovered_samples);
    }
    int exit_status = -1; // the child's wait status when we started it and it ended

    double achieved_rate() const { return elapsed_seconds > 0 ? double(ticks) / elapsed_seconds : 0; }
    // The rate the session kept, as its summary tells it: on perf_event the requested rate times
    // the share kept, on ptrace the rounds taken per second. nullopt when too few samples
    // (perf_event) or rounds (ptrace: a target that exited at once) were called for to tell.
    std::optional<double> kept_rate(double rate_hz) const {
        if (engine == "perf_event") {
            const std::optional<double> kept = kept_share();
            return kept ? std::optional<double>(rate_hz * *kept) : std::nullopt;
        }
        if (rate_hz * elapsed_seconds < min_expected_for_share)
            return std::nullopt;
        return achieved_rate();
    }
    // What a process's CPU share is taken of, for the whole session: on perf_event, the periods
    // of 1/rate seconds in the span (a thread on a CPU all the time gets one sample in each); on
    // ptrace, the rounds taken.
    double share_periods(double rate_hz) const {
        return engine == "perf_event" ? rate_hz * elapsed_seconds : double(ticks);
    }
    double gil_share() const { return ticks > 0 ? double(gil_ticks) / double(ticks) : 0; }
    double active_share() const { return ticks > 0 ? double(active_ticks) / double(ticks) : 0; }
};

// How the engine samples the threads, as a period's call tells a sink that watches them.
enum class PeriodSampling {
    // Each thread on CPU at its own times, about once a period, jittered (the perf_event
    // engine): one not sampled for a period may still be running.
    jittered,
    // The threads it samples (the running ones; with --gil, those holding the GIL), in one
    // round just before the call (the ptrace engine).
    rounds,
};

// Receives what a session produces: `record` builds a Profile, `top` keeps its own tables.
class SampleSink {
  public:
    virtual ~SampleSink() = default;
    virtual void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) = 0;
    // How the engines hand a stack over: with the process it was read from, as soon as it was
    // read, so a sink can read more of that process at about the same instant (the asyncio
    // stall watch reads the event loop's state). By default, add_stack.
    virtual void add_sampled_stack(ProcessSampler&, const ThreadInfo& thread,
                                   const std::vector<Frame>& innermost_first) {
        add_stack(thread, innermost_first);
    }
    // A sink that watches threads on a wall clock, whether they run or not, asks for a call at
    // every sampling period (1 / rate), with the processes sampled then.
    virtual bool wants_periods() const { return false; }
    // A sink that reads more of a process at each stack's instant (the asyncio task running,
    // the loop's callback count) needs the Python frames read when the engine is woken for the
    // sample, not walked in the kernel and handed over up to a drain later.
    virtual bool reads_at_each_sample() const { return false; }
    virtual void on_period(std::uint64_t /*now_ns: CLOCK_MONOTONIC*/, const ProcessSamplers&,
                           PeriodSampling) {}
    // How long a session may go without a round (end_of_round) when no sample wakes it: a
    // recording does not mind a few looks a second; a screen that redraws and answers keys does.
    virtual int longest_quiet_ms() const { return 250; }
    // A sink that shows the kept share while sampling (top) needs the report's expected_samples
    // kept current: a read of each thread's clock, an interrupt of each running thread, a few
    // times a second. Otherwise it is counted once, at the end.
    virtual bool shows_kept_live() const { return false; }
    // After each round over the threads; returning false ends the session (StopReason::sink).
    virtual bool end_of_round(const SessionReport&) { return true; }
    // The modules a process had mapped, when the session stops sampling it (it ended, or the
    // session did): what frames' module names refer to.
    virtual void add_modules(const std::vector<ModuleRecord>&) {}
};

} // namespace sampler

#pragma once
// Event-loop stalls from a stream of observations of loop threads. A stall is one run of one
// callback lasting at least the threshold: observations belong to the same run when the loop's
// count of callbacks started (AsyncioTaskReader::callbacks_started) is the same and the thread is
// inside a callback, so two short callbacks in a row never merge, however alike their stacks.
// Time in the selector's wait ends a run and is never a stall. Pure: fed made-up observations in
// its tests.

#include "loop_phase.hpp"
#include "sampler/frame.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sampler {

// One look at a loop thread: a sample the engine took, or a read of our own between samples.
struct LoopObservation {
    int pid = 0;
    int tid = 0;
    std::string thread_name;
    std::uint64_t time_ns = 0; // CLOCK_MONOTONIC
    LoopPhase phase = LoopPhase::not_a_loop;
    std::optional<std::uint64_t> callbacks_started; // nullopt: unknown (no run can be told)
    // The running task's name (empty: none ran); nullopt when not read for this look: a run's
    // task is read once, on its second look (see wants_task).
    std::optional<std::string> task;
    std::vector<Frame> callback_frames; // see LoopPosition
    // Taken by a clock of the thread's CPU time while it ran (the perf_event engine's sample),
    // which samples it again within about a period while it stays on CPU. A read of ours
    // between samples, or a ptrace round's sample, is not.
    bool on_cpu_clock = false;
};

struct Stall {
    int pid = 0;
    int tid = 0;
    std::string thread_name;
    std::uint64_t start_ns = 0; // CLOCK_MONOTONIC, estimated
    std::uint64_t duration_ns = 0;
    std::string task; // empty: a plain callback, not a task's step
    Frame coroutine;  // the task's coroutine, or the plain callback's function (kind unknown: none)
    std::vector<Frame> hottest_stack; // innermost first, the coroutine last: the most observed one
    std::uint64_t observations = 0;
    bool ongoing = false;      // still running when watching ended
    bool began_before = false; // already running when its thread was first looked at
    // Either way the duration is a lower bound: the part that was watched, and half a gap (of
    // at most max_gap_periods) at either end.
};

class StallDetector {
  public:
    static constexpr std::size_t max_stacks_per_run = 64; // distinct stacks kept per callback run
    // A gap between two looks at a thread counts up to this many periods: a longer one (we were
    // descheduled) says little of where in it a run began or ended.
    static constexpr std::uint64_t max_gap_periods = 3;

    // `period_ns`: the sampling interval, the gap assumed before a thread's first observation.
    StallDetector(std::uint64_t threshold_ns, std::uint64_t period_ns)
        : threshold_ns_(threshold_ns), period_ns_(period_ns) {}

    struct Outcome {
        bool ended_run = false;           // the thread's previous callback run ended here (or
                                          // proved to be observations of another callback)
        std::optional<Stall> ended_stall; // ... and it was a stall
        bool in_run = false;              // this observation lies inside a callback run
    };
    // Observations of one thread come in time order.
    Outcome observe(const LoopObservation& observation);
    // Whether a look inside a callback with this count should read the running task: once per
    // run, on its second look, since most runs are seen once and too short to be stalls (a run
    // seen once lasts at most longest_single_look_ns). On the first look when a run that short
    // can be a stall.
    bool wants_task(int pid, int tid, std::uint64_t callbacks_started) const;
    // The runs still open that are stalls already (timed to their last observation), as ongoing,
    // left open: a live view counts a stall while it lasts, not only once it has ended.
    std::vector<Stall> open_stalls() const;
    // Watching ends: every run still open ends (as ongoing), and those long enough are stalls.
    std::vector<Stall> finish(std::uint64_t now_ns);
    // Forgets a thread (it ended), ending its run as finish() does.
    std::optional<Stall> forget(int pid, int tid, std::uint64_t now_ns);

    // The longest a run seen once is timed: the longest lead before its look (all of a gap
    // but half a period: see lead()) and half the longest gap after it.
    std::uint64_t longest_single_look_ns() const { return (3 * max_gap_periods - 1) * period_ns_ / 2; }

  private:
    struct Run {
        std::uint64_t callbacks_started = 0;
        std::uint64_t first_ns = 0;
        std::uint64_t last_ns = 0;
        std::uint64_t lead_ns = 0; // how long before first_ns it is taken to have begun
        std::uint64_t observations = 0;
        bool began_before = false;
        std::string root; // what it runs: see run_root()
        std::string thread_name;
        std::optional<std::string> task;                                            // nullopt: not read yet
        std::map<std::string, std::pair<std::uint64_t, std::vector<Frame>>> stacks; // by label
    };
    struct Thread {
        bool seen = false; // observed before
        std::uint64_t last_ns = 0;
        bool last_on_cpu_clock = false; // the latest observation was (see LoopObservation)
        std::optional<Run> run;
    };

    std::optional<Stall> end_run(int pid, int tid, Thread& thread, std::uint64_t end_gap_ns, bool ongoing);
    std::optional<Stall> stall_of(int pid, int tid, const Run& run, std::uint64_t end_gap_ns,
                                  bool ongoing) const;
    std::uint64_t bounded_gap(std::uint64_t gap_ns) const;
    std::uint64_t lead(const Thread& thread, const LoopObservation& seen, std::uint64_t gap_ns) const;

    std::uint64_t threshold_ns_;
    std::uint64_t period_ns_;
    std::map<std::pair<int, int>, Thread> threads_;
};

} // namespace sampler

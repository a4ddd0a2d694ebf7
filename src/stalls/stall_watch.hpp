#pragma once
// `--asyncio`: watches the asyncio event loops of the sampled processes for stalls, between the
// engine and the sink the stacks go to. Each stack the engine takes of a loop thread is also an
// observation of its loop, read at about the same instant (the loop's count of callbacks started,
// the running task's name); a loop thread the engine did not sample in the last period (asleep
// inside a callback, or waiting in select) is looked at with a read of its Python frames, without
// stopping it. With `stalls_only`, the stacks of loop threads are held back until their callback
// run ends and passed on only when it was a stall; other stacks are dropped.

#include "asyncio_processes.hpp"
#include "sample_sink.hpp"
#include "sampling_session.hpp"
#include "stall_detector.hpp"

#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace sampler {

struct StallWatchOptions {
    double threshold_ms = 100; // asyncio's own slow_callback_duration
    double rate_hz = 100;
    bool stalls_only = false;
    // Told of each stall as it ends, with its start on the wall clock (seconds since the epoch).
    std::function<void(const Stall&, double start_unix_seconds)> on_stall{};
};

class StallWatch final : public SampleSink {
  public:
    static constexpr std::size_t max_held_stacks = 1 << 17; // per thread, --stalls-only
    static constexpr int max_look_attempts = 3;             // reads of a loop thread per look of ours

    // Reads the loops itself, or through `shared` (with another sink that reads them: --tasks).
    StallWatch(SampleSink& inner, StallWatchOptions options);
    StallWatch(SampleSink& inner, AsyncioProcesses& shared, StallWatchOptions options);

    void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) override;
    void add_sampled_stack(ProcessSampler& process, const ThreadInfo& thread,
                           const std::vector<Frame>& innermost_first) override;
    bool end_of_round(const SessionReport& report) override { return inner_.end_of_round(report); }
    void add_modules(const std::vector<ModuleRecord>& modules) override { inner_.add_modules(modules); }
    bool wants_periods() const override { return true; }
    bool reads_at_each_sample() const override { return true; }
    int longest_quiet_ms() const override { return inner_.longest_quiet_ms(); }
    bool shows_kept_live() const override { return inner_.shows_kept_live(); }
    void on_period(std::uint64_t now_ns, const ProcessSamplers& processes, PeriodSampling sampling) override;

    // Sampling ended: runs still open end (as ongoing) and are told. Every stall, in the order seen.
    const std::vector<Stall>& finish(std::uint64_t now_ns);
    // The stalls told so far (since the last take_stalls), in the order seen.
    const std::vector<Stall>& stalls() const { return stalls_; }
    // Hands over the stalls told since the last call and forgets them: a live view that runs for
    // days keeps only what it sums up.
    std::vector<Stall> take_stalls() { return std::exchange(stalls_, {}); }
    // The callback runs still going that are stalls already, as ongoing.
    std::vector<Stall> open_stalls() const { return detector_.open_stalls(); }
    // Loop threads looked at so far.
    std::size_t loop_threads_seen() const { return watched_.size(); }
    // Whether a process watched runs uvloop (its loop threads are not looked at: see the notice).
    bool uvloop_seen() const { return processes_.uvloop_seen(); }
    // Stacks passed on to the sink with --stalls-only.
    std::uint64_t kept_stacks() const { return kept_stacks_; }

  private:
    struct Watched {
        std::uint64_t last_ns = 0;         // last observation
        bool last_from_engine = false;     // ... a sample the engine took (else a read of ours)
        bool sampled_since_period = false; // the engine sampled it since the last on_period
        std::vector<std::pair<ThreadInfo, std::vector<Frame>>> held; // --stalls-only
    };

    StallWatch(SampleSink& inner, AsyncioProcesses* shared, StallWatchOptions options);
    // A look at `tid`, the thread running `loop`: where it is, from its frames, and the task
    // named when a new run begins.
    LoopObservation observation(LoopThreads& loops, const AsyncioLoopRef& loop, int pid, int tid,
                                std::string thread_name, std::uint64_t time_ns,
                                const std::vector<Frame>& innermost_first,
                                std::optional<std::uint64_t> callbacks_started);
    // Whether the observation lies inside a callback run.
    bool observe(const LoopObservation& observation, Watched& watched);
    // The stacks held back for a run that ended: passed on when it was a stall (`keep`), else dropped.
    void release_held(Watched& watched, bool keep);
    void told(Stall stall);

    SampleSink& inner_;
    StallWatchOptions options_;
    std::uint64_t period_ns_;
    StallDetector detector_;
    std::unique_ptr<AsyncioProcesses> own_processes_; // when not shared
    AsyncioProcesses& processes_;
    std::map<std::pair<int, int>, Watched> watched_;
    std::vector<Stall> stalls_;
    std::uint64_t kept_stacks_ = 0;
    // As the last on_period said (the ptrace engine's first round comes before its first call).
    PeriodSampling sampling_ = PeriodSampling::jittered;
    SessionReport scratch_; // counters of our own reads, which are not samples
};

// Runs the session into `first`, the head of the sinks' chain, which passes through `watch` when
// there is one (--asyncio): the runs still open when sampling ends end with it.
SessionReport run_watched_session(const SessionOptions& session, SampleSink& first, StallWatch* watch);

} // namespace sampler

#include "stall_watch.hpp"

#include "sampler/clock.hpp"
#include "sampler/error.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

namespace sampler {

StallWatch::StallWatch(SampleSink& inner, StallWatchOptions options)
    : StallWatch(inner, nullptr, std::move(options)) {}

StallWatch::StallWatch(SampleSink& inner, AsyncioProcesses& shared, StallWatchOptions options)
    : StallWatch(inner, &shared, std::move(options)) {}

StallWatch::StallWatch(SampleSink& inner, AsyncioProcesses* shared, StallWatchOptions options)
    : inner_(inner), options_(std::move(options)),
      period_ns_(static_cast<std::uint64_t>(1e9 / std::max(0.001, options_.rate_hz))),
      detector_(static_cast<std::uint64_t>(options_.threshold_ms * 1e6), period_ns_),
      own_processes_(shared ? nullptr : std::make_unique<AsyncioProcesses>()),
      processes_(shared ? *shared : *own_processes_) {
    processes_.add_notes(
        {.unsupported =
             [](int pid, const std::string& why) {
                 std::fprintf(stderr, "sampler: --asyncio: process %d is not watched for stalls: %s\n", pid,
                              why.c_str());
             },
         .uvloop =
             [](int pid) {
                 std::fprintf(stderr,
                              "sampler: --asyncio: process %d runs uvloop, whose loop runs callbacks in "
                              "compiled code: its stalls cannot be told apart (its tasks and their Python "
                              "stacks still show in the profile and in dump --tasks)\n",
                              pid);
             }});
}

void StallWatch::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    if (!options_.stalls_only)
        inner_.add_stack(thread, innermost_first);
}

void StallWatch::add_sampled_stack(ProcessSampler& process, const ThreadInfo& thread,
                                   const std::vector<Frame>& innermost_first) {
    const std::uint64_t now_ns = clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t sampled_ns = thread.sampled_ns ? thread.sampled_ns : now_ns;
    LoopThreads* loops = processes_.loops_for(process, steady_at(now_ns));
    const AsyncioLoopRef* loop = loops ? loops->loop_of(thread.tid) : nullptr;
    if (!loop) {
        if (!options_.stalls_only)
            inner_.add_sampled_stack(process, thread, innermost_first);
        return;
    }
    LoopObservation seen = observation(*loops, *loop, thread.pid, thread.tid, thread.name, sampled_ns,
                                       innermost_first, loops->callbacks_started(*loop));
    seen.on_cpu_clock = sampling_ == PeriodSampling::jittered && thread.on_cpu();
    Watched& watched = watched_[{thread.pid, thread.tid}];
    watched.last_from_engine = true;
    watched.sampled_since_period = true;
    const bool in_run = observe(seen, watched);
    if (!options_.stalls_only)
        inner_.add_sampled_stack(process, thread, innermost_first);
    else if (in_run && watched.held.size() < max_held_stacks)
        watched.held.emplace_back(thread, innermost_first);
}

void StallWatch::on_period(std::uint64_t now_ns, const ProcessSamplers& processes, PeriodSampling sampling) {
    sampling_ = sampling;
    for (const auto& [pid, process] : processes) {
        LoopThreads* loops = processes_.loops_for(*process, steady_at(now_ns));
        if (!loops)
            continue;
        for (const AsyncioLoopRef& loop : loops->loops()) {
            if (loop.tid == 0)
                continue;
            Watched& watched = watched_[{pid, loop.tid}];
            const bool sampled = std::exchange(watched.sampled_since_period, false);
            if (sampling == PeriodSampling::rounds) {
                // A thread the round did not sample (asleep, or without the GIL with --gil) is
                // looked at now, at every round (they are jittered: a wait of nearly a period
                // after our last look skipped the next one, leaving gaps of up to 2.4 periods).
                if (sampled)
                    continue;
            } else {
                // The perf engine's samples come at jittered intervals (up to 1.5 periods apart):
                // look only when one is clearly missing. Our own looks keep to the period.
                const std::uint64_t wait_ns = watched.last_from_engine ? period_ns_ * 3 / 2 : period_ns_ / 2;
                if (watched.last_ns != 0 && now_ns < watched.last_ns + wait_ns)
                    continue;
            }
            // The count read before and after the frames: equal, the frames belong to that run.
            // A read that failed (the thread was changing its frames as we read them) or that a
            // callback's start crossed is tried again at once: these come where runs begin and
            // end, and a look lost there leaves a period of the stall's edge unknown (a 159-ms block
            // was read as 125 ms, from 12 looks, in a run that counted 11 failed or torn reads).
            std::optional<std::vector<Frame>> frames;
            std::optional<std::uint64_t> after;
            for (int attempt = 0; attempt < max_look_attempts && !frames; ++attempt) {
                const auto before = loops->callbacks_started(loop);
                frames = process->read_python_frames(loop.tid, scratch_);
                after = loops->callbacks_started(loop);
                if (before != after)
                    frames.reset();
            }
            if (!frames)
                continue;
            const LoopObservation seen = observation(*loops, loop, pid, loop.tid,
                                                     process->thread_name(loop.tid), now_ns, *frames, after);
            watched.last_from_engine = false;
            observe(seen, watched);
        }
    }
}

LoopObservation StallWatch::observation(LoopThreads& loops, const AsyncioLoopRef& loop, int pid, int tid,
                                        std::string thread_name, std::uint64_t time_ns,
                                        const std::vector<Frame>& innermost_first,
                                        std::optional<std::uint64_t> callbacks_started) {
    LoopObservation seen;
    seen.pid = pid;
    seen.tid = tid;
    seen.thread_name = std::move(thread_name);
    seen.time_ns = time_ns;
    LoopPosition position = loop_position(innermost_first);
    seen.phase = position.phase;
    seen.callback_frames = std::move(position.callback_frames);
    seen.callbacks_started = callbacks_started;
    // The task is named once per run, and only for a run seen twice: the reads it takes would
    // otherwise be most of what --asyncio costs per sample, on a loop of short callbacks.
    if (seen.phase == LoopPhase::callback && callbacks_started &&
        detector_.wants_task(pid, tid, *callbacks_started))
        seen.task = loops.running_task_name(loop);
    return seen;
}

void StallWatch::release_held(Watched& watched, bool keep) {
    if (keep) {
        for (auto& [thread, frames] : watched.held)
            inner_.add_stack(thread, frames);
        kept_stacks_ += watched.held.size();
    }
    watched.held.clear();
}

bool StallWatch::observe(const LoopObservation& seen, Watched& watched) {
    watched.last_ns = std::max(watched.last_ns, seen.time_ns);
    StallDetector::Outcome outcome = detector_.observe(seen);
    if (!outcome.ended_run)
        return outcome.in_run;
    release_held(watched, outcome.ended_stall.has_value());
    if (outcome.ended_stall)
        told(std::move(*outcome.ended_stall));
    return outcome.in_run;
}

void StallWatch::told(Stall stall) {
    if (options_.on_stall) {
        const double now_real = double(clock_ns(CLOCK_REALTIME)) / 1e9;
        const double now_mono = double(clock_ns(CLOCK_MONOTONIC)) / 1e9;
        options_.on_stall(stall, now_real - (now_mono - double(stall.start_ns) / 1e9));
    }
    stalls_.push_back(std::move(stall));
}

const std::vector<Stall>& StallWatch::finish(std::uint64_t now_ns) {
    for (Stall& stall : detector_.finish(now_ns)) {
        release_held(watched_[{stall.pid, stall.tid}], true);
        told(std::move(stall));
    }
    return stalls_;
}

SessionReport run_watched_session(const SessionOptions& session, SampleSink& first, StallWatch* watch) {
    SessionReport report = run_sampling_session(session, first);
    if (watch)
        watch->finish(clock_ns(CLOCK_MONOTONIC));
    return report;
}

} // namespace sampler

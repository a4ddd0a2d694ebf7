#include "stall_watch.hpp"

#include "sampler/error.hpp"

#include <cstdio>
#include <ctime>

namespace sampler {
namespace {

std::uint64_t clock_ns(clockid_t clock) {
    timespec now{};
    clock_gettime(clock, &now);
    return std::uint64_t(now.tv_sec) * 1'000'000'000u + std::uint64_t(now.tv_nsec);
}

std::chrono::steady_clock::time_point steady_at(std::uint64_t monotonic_ns) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(monotonic_ns));
}

} // namespace

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
    LoopObservation seen;
    seen.pid = thread.pid;
    seen.tid = thread.tid;
    seen.thread_name = thread.name;
    seen.time_ns = sampled_ns;
    LoopPosition position = loop_position(innermost_first);
    seen.phase = position.phase;
    seen.callback_frames = std::move(position.callback_frames);
    seen.callbacks_started = loops->callbacks_started(*loop);
    if (seen.phase == LoopPhase::callback && seen.callbacks_started &&
        !detector_.continues_run(seen.pid, seen.tid, *seen.callbacks_started))
        seen.task = loops->running_task_name(*loop);
    Watched& watched = watched_[{thread.pid, thread.tid}];
    watched.last_from_engine = true;
    const bool in_run = observe(seen, watched);
    if (!options_.stalls_only)
        inner_.add_sampled_stack(process, thread, innermost_first);
    else if (in_run && watched.held.size() < max_held_stacks)
        watched.held.emplace_back(thread, innermost_first);
}

void StallWatch::on_period(std::uint64_t now_ns, const ProcessSamplers& processes) {
    for (const auto& [pid, process] : processes) {
        LoopThreads* loops = processes_.loops_for(*process, steady_at(now_ns));
        if (!loops)
            continue;
        for (const AsyncioLoopRef& loop : loops->loops()) {
            if (loop.tid == 0)
                continue;
            Watched& watched = watched_[{pid, loop.tid}];
            // Engine samples come at jittered intervals (up to 1.5 periods apart): look only when
            // one is clearly missing. Our own looks keep to the period.
            const std::uint64_t wait_ns = watched.last_from_engine ? period_ns_ * 3 / 2 : period_ns_ * 9 / 10;
            if (watched.last_ns != 0 && now_ns < watched.last_ns + wait_ns)
                continue;
            // The count read before and after the frames: equal, the frames belong to that run.
            const auto before = loops->callbacks_started(loop);
            auto frames = process->read_python_frames(loop.tid, scratch_);
            const auto after = loops->callbacks_started(loop);
            if (!frames || before != after)
                continue;
            LoopObservation seen;
            seen.pid = pid;
            seen.tid = loop.tid;
            seen.thread_name = process->thread_name(loop.tid);
            seen.time_ns = now_ns;
            LoopPosition position = loop_position(*frames);
            seen.phase = position.phase;
            seen.callback_frames = std::move(position.callback_frames);
            seen.callbacks_started = after;
            if (seen.phase == LoopPhase::callback && after && !detector_.continues_run(pid, loop.tid, *after))
                seen.task = loops->running_task_name(loop);
            watched.last_from_engine = false;
            observe(seen, watched);
        }
    }
}

bool StallWatch::observe(const LoopObservation& seen, Watched& watched) {
    watched.last_ns = std::max(watched.last_ns, seen.time_ns);
    StallDetector::Outcome outcome = detector_.observe(seen);
    if (!outcome.ended_run)
        return outcome.in_run;
    if (outcome.ended_stall) {
        for (auto& [thread, frames] : watched.held)
            inner_.add_stack(thread, frames);
        kept_stacks_ += watched.held.size();
        told(std::move(*outcome.ended_stall));
    }
    watched.held.clear();
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
        Watched& watched = watched_[{stall.pid, stall.tid}];
        for (auto& [thread, frames] : watched.held)
            inner_.add_stack(thread, frames);
        kept_stacks_ += watched.held.size();
        watched.held.clear();
        told(std::move(stall));
    }
    return stalls_;
}

} // namespace sampler

#include "stall_detector.hpp"

#include <algorithm>

namespace sampler {
namespace {

// What a run runs, which stays the same throughout it: the task's coroutine (or the plain
// callback's function), its outermost Python frame, without the line.
std::string run_root(const std::vector<Frame>& frames) {
    for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame)
        if (frame->kind == FrameKind::python)
            return frame->name + '\n' + frame->file;
    return {};
}

std::string stack_key(const std::vector<Frame>& frames) {
    std::string key;
    for (const Frame& frame : frames) {
        key += aggregate_label(frame);
        key += '\n';
    }
    return key;
}

} // namespace

// A run began somewhere in the gap before its first observation and ended somewhere in the gap
// after its last: half of each is the estimate, off by at most half a gap at either end. A gap
// much longer than the period (we were descheduled) says little, so it is capped: not below the
// gaps the looks leave when all is well (up to 2.5 periods: see StallWatch::on_period), or every
// stall seen through them would read short.
std::uint64_t StallDetector::bounded_gap(std::uint64_t gap_ns) const {
    return std::min(gap_ns, max_gap_periods * period_ns_);
}

// Where in the gap before its first observation a run began. Mostly unknown: half the gap. But
// when a CPU-time clock sampled the thread at the observation before, and did not since (this
// one is a look of ours), the thread went off CPU within about a period of it: the clock
// samples a thread on CPU once a period or so (jittered). A run that is first seen off CPU
// began before the thread went off CPU, when the loop is busy (as it is when it stalls):
// within that period, not anywhere in the whole gap, which our look after a missing sample
// makes 1.5-2.5 periods long (a 150-ms sleep in a callback read 7-10 ms short from that alone).
// (The ptrace engine's rounds are looked after at the next round: the gap is the span the
// thread went off CPU in.)
std::uint64_t StallDetector::lead(const Thread& thread, const LoopObservation& seen,
                                  std::uint64_t gap_ns) const {
    if (thread.seen && thread.last_on_cpu_clock && !seen.on_cpu_clock)
        return gap_ns - std::min(gap_ns, period_ns_) / 2;
    return gap_ns / 2;
}

StallDetector::Outcome StallDetector::observe(const LoopObservation& seen) {
    Thread& thread = threads_[{seen.pid, seen.tid}];
    const bool first_look = !thread.seen;
    const std::uint64_t gap = bounded_gap(
        !first_look && seen.time_ns > thread.last_ns ? seen.time_ns - thread.last_ns : period_ns_);
    const std::uint64_t lead_ns = lead(thread, seen, gap);
    thread.seen = true;
    // An engine's sample handed over after a look of ours can be older than it.
    if (seen.time_ns >= thread.last_ns) {
        thread.last_ns = seen.time_ns;
        thread.last_on_cpu_clock = seen.on_cpu_clock;
    }
    Outcome outcome;
    const bool in_callback = seen.phase == LoopPhase::callback && seen.callbacks_started.has_value();
    if (thread.run && !(in_callback && *seen.callbacks_started == thread.run->callbacks_started)) {
        outcome.ended_run = true;
        outcome.ended_stall = end_run(seen.pid, seen.tid, thread, gap, false);
    }
    if (!in_callback)
        return outcome;
    std::string root = run_root(seen.callback_frames);
    if (thread.run && !root.empty() && !thread.run->root.empty() && root != thread.run->root) {
        // The same count but another coroutine: the count read for the earlier observations came
        // a moment after their frames, when the next callback had started (we were descheduled
        // in between). They were of the callback before; this run starts here, with the task
        // name read for it then.
        std::optional<std::string> task = std::move(thread.run->task);
        thread.run.reset();
        outcome.ended_run = true;
        thread.run.emplace();
        thread.run->callbacks_started = *seen.callbacks_started;
        thread.run->first_ns = seen.time_ns;
        thread.run->lead_ns = lead_ns;
        thread.run->task = std::move(task);
    }
    if (!thread.run) {
        thread.run.emplace();
        thread.run->callbacks_started = *seen.callbacks_started;
        thread.run->first_ns = seen.time_ns;
        thread.run->lead_ns = lead_ns;
        thread.run->began_before = first_look; // it may have begun long before
    }
    Run& run = *thread.run;
    outcome.in_run = true;
    run.last_ns = std::max(run.last_ns, seen.time_ns);
    ++run.observations;
    run.thread_name = seen.thread_name;
    if (run.root.empty())
        run.root = std::move(root);
    if (seen.task && !run.task)
        run.task = seen.task;
    std::string key = stack_key(seen.callback_frames);
    if (auto known = run.stacks.find(key); known != run.stacks.end())
        ++known->second.first;
    else if (run.stacks.size() < max_stacks_per_run)
        run.stacks.emplace(std::move(key), std::pair{std::uint64_t{1}, seen.callback_frames});
    return outcome;
}

std::optional<Stall> StallDetector::end_run(int pid, int tid, Thread& thread, std::uint64_t end_gap_ns,
                                            bool ongoing) {
    Run run = std::move(*thread.run);
    thread.run.reset();
    return stall_of(pid, tid, run, end_gap_ns, ongoing);
}

std::optional<Stall> StallDetector::stall_of(int pid, int tid, const Run& run, std::uint64_t end_gap_ns,
                                             bool ongoing) const {
    const std::uint64_t duration = run.last_ns - run.first_ns + run.lead_ns + end_gap_ns / 2;
    if (duration < threshold_ns_)
        return std::nullopt;
    Stall stall;
    stall.pid = pid;
    stall.tid = tid;
    stall.thread_name = run.thread_name;
    stall.start_ns = run.first_ns - std::min(run.first_ns, run.lead_ns);
    stall.duration_ns = duration;
    stall.task = run.task.value_or("");
    stall.observations = run.observations;
    stall.ongoing = ongoing;
    stall.began_before = run.began_before;
    const auto hottest = std::ranges::max_element(
        run.stacks, [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
    if (hottest != run.stacks.end()) {
        stall.hottest_stack = hottest->second.second;
        // The coroutine (or callback function): the outermost Python frame of the run.
        for (auto frame = stall.hottest_stack.rbegin(); frame != stall.hottest_stack.rend(); ++frame)
            if (frame->kind == FrameKind::python) {
                stall.coroutine = *frame;
                break;
            }
    }
    return stall;
}

std::vector<Stall> StallDetector::open_stalls() const {
    std::vector<Stall> stalls;
    for (const auto& [key, thread] : threads_)
        if (thread.run)
            if (auto stall = stall_of(key.first, key.second, *thread.run, 0, true))
                stalls.push_back(std::move(*stall));
    return stalls;
}

bool StallDetector::wants_task(int pid, int tid, std::uint64_t callbacks_started) const {
    auto found = threads_.find({pid, tid});
    const bool continues = found != threads_.end() && found->second.run &&
                           found->second.run->callbacks_started == callbacks_started;
    if (continues)
        return !found->second.run->task.has_value();
    return threshold_ns_ <= longest_single_look_ns();
}

std::optional<Stall> StallDetector::forget(int pid, int tid, std::uint64_t now_ns) {
    auto found = threads_.find({pid, tid});
    if (found == threads_.end())
        return std::nullopt;
    std::optional<Stall> stall;
    if (found->second.run) {
        const std::uint64_t since = now_ns > found->second.last_ns ? now_ns - found->second.last_ns : 0;
        stall = end_run(pid, tid, found->second, bounded_gap(since), true);
    }
    threads_.erase(found);
    return stall;
}

std::vector<Stall> StallDetector::finish(std::uint64_t now_ns) {
    std::vector<Stall> stalls;
    std::vector<std::pair<int, int>> keys;
    for (const auto& [key, thread] : threads_)
        keys.push_back(key);
    for (const auto& [pid, tid] : keys)
        if (auto stall = forget(pid, tid, now_ns))
            stalls.push_back(std::move(*stall));
    return stalls;
}

} // namespace sampler

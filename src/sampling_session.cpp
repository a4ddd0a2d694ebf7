#include "sampling_session.hpp"

#include "native_stacks.hpp"
#include "proc_threads.hpp"
#include "stop_signal.hpp"
#include "thread_capture.hpp"

#include <chrono>
#include <cstdio>
#include <random>
#include <sys/wait.h>

namespace sampler {
namespace {

using Clock = std::chrono::steady_clock;

struct CapturedThread {
    ThreadInfo info;
    ThreadSnapshot snapshot;
};

class Session {
  public:
    Session(const SessionOptions& options, SampleSink& sink)
        : options_(options), native_(options.pid), sink_(sink) {}

    bool target_alive() {
        if (options_.target_is_child) {
            int status = 0;
            if (::waitpid(options_.pid, &status, WNOHANG) == options_.pid) {
                report_.exit_status = status;
                return false;
            }
        }
        return process_exists(options_.pid);
    }

    // One round over every thread: capture all first (each thread stopped only for its own
    // copy), then do the expensive work with every thread running.
    void tick() {
        captured_.clear();
        CaptureLimits limits = native_.limits_for_capture(options_.max_stack_bytes);
        for (int tid : list_threads(options_.pid)) {
            auto info = read_thread_info(options_.pid, tid);
            if (!info || (!options_.include_idle && !info->running()))
                continue;
            CapturedThread& slot = next_slot();
            slot.info = *info;
            CaptureStatus status = capture_thread(tid, limits, slot.snapshot);
            if (status == CaptureStatus::ok) {
                report_.pauses.add(slot.snapshot.pause_nanoseconds);
                continue;
            }
            captured_.pop_back();
            if (status != CaptureStatus::thread_gone)
                ++report_.errors;
        }
        detach_lingering_threads();
        for (const CapturedThread& thread : captured_) {
            ResolvedStack stack = native_.resolve(thread.snapshot, options_.max_depth);
            if (stack.frames.empty()) {
                ++report_.errors;
                continue;
            }
            if (stack.end != UnwindEnd::complete)
                ++report_.truncated;
            sink_.add_stack(thread.info, stack.frames);
            ++report_.thread_samples;
        }
        native_.refresh_if_stale();
        ++report_.ticks;
    }

    SessionReport& report() { return report_; }

  private:
    CapturedThread& next_slot() {
        // Snapshots are reused across ticks so their stack buffers are allocated once.
        if (captured_.size() == pool_.size())
            pool_.emplace_back();
        captured_.push_back(std::move(pool_[captured_.size()]));
        return captured_.back();
    }

    const SessionOptions& options_;
    NativeStacks native_;
    SampleSink& sink_;
    std::vector<CapturedThread> captured_;
    std::vector<CapturedThread> pool_;
    SessionReport report_;
};

} // namespace

SessionReport run_sampling_session(const SessionOptions& options, SampleSink& sink) {
    Session session(options, sink);
    SessionReport& report = session.report();
    const auto interval = std::chrono::duration<double>(1.0 / options.rate_hz);
    // Uniform jitter of ±50% around the mean interval, so periodic work in the target cannot
    // line up with our ticks and be over- or under-counted.
    std::mt19937_64 random(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.5, 1.5);

    // The first round loads every module's symbols and line tables: it is set-up, not sampling,
    // so the clock (rate, duration) starts after it.
    if (session.target_alive())
        session.tick();
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline =
        options.duration_seconds > 0 ? start + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(options.duration_seconds))
                                     : Clock::time_point::max();
    Clock::time_point next_tick =
        start + std::chrono::duration_cast<Clock::duration>(interval * jitter(random));
    Clock::time_point last_warning = start - std::chrono::seconds(1);

    while (true) {
        sleep_until(std::min(next_tick, deadline));
        if (stop_requested()) {
            report.reason = StopReason::stop_signal;
            break;
        }
        if (Clock::now() >= deadline) {
            report.reason = StopReason::duration;
            break;
        }
        if (!session.target_alive()) {
            report.reason = StopReason::target_exited;
            break;
        }
        session.tick();
        if (!sink.end_of_round(report)) {
            report.reason = StopReason::sink;
            break;
        }

        next_tick += std::chrono::duration_cast<Clock::duration>(interval * jitter(random));
        Clock::time_point now = Clock::now();
        if (now > next_tick) {
            ++report.late_ticks;
            if (now - next_tick > interval) {
                // Too far behind to catch up: start afresh from now, and say so (at most once a second).
                next_tick = now;
                if (now - last_warning >= std::chrono::seconds(1)) {
                    double elapsed = std::chrono::duration<double>(now - start).count();
                    std::fprintf(stderr, "sampler: cannot keep up with %.0f Hz: %.0f Hz achieved so far\n",
                                 options.rate_hz, double(report.ticks) / elapsed);
                    last_warning = now;
                }
            }
        }
    }
    report.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return report;
}

} // namespace sampler

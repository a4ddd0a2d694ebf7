#include "sampling_session.hpp"

#include "own_cpu.hpp"
#include "perf_session.hpp"
#include "proc_threads.hpp"
#include "sampler/clock.hpp"
#include "sampler/error.hpp"
#include "stop_signal.hpp"
#include "thread_capture.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sys/wait.h>
#include <thread>

namespace sampler {
namespace {

using Clock = std::chrono::steady_clock;

class Session {
  public:
    Session(const SessionOptions& options, SampleSink& sink) : options_(options), sink_(sink) {
        for (int pid : options.pids) {
            if (processes_.contains(pid))
                continue;
            // Read before the sampler is made: loading a program's symbols can take longer than
            // the program takes to exec, and an exec during that load must still read as one.
            program_ids_[pid] = program_id(pid);
            processes_.emplace(pid, std::make_unique<ProcessSampler>(pid, options.stacks));
            live_roots_.insert(pid);
        }
        update_process_facts();
    }

    bool target_alive() {
        std::erase_if(live_roots_, [](int pid) { return !process_exists(pid); });
        // A child that ended mid-round may take a moment to become reapable.
        const bool ending = roots_ended_ || live_roots_.empty();
        if (options_.target_is_child && launched_command_ended(options_, report_, ending ? 100 : 1))
            return false;
        return !roots_ended_ && !live_roots_.empty();
    }

    // One round over every sampled process and its threads.
    void tick() {
        if (options_.subprocesses)
            follow_descendants();
        follow_execs();
        bool gil_held = false, active = false;
        for (auto entry = processes_.begin(); entry != processes_.end();) {
            const int pid = entry->first;
            std::vector<SampledStack> stacks;
            try {
                stacks = entry->second->sample(false, report_);
            } catch (const Error& error) {
                // It exited after the last liveness check, and its /proc files went with it: the
                // end of the target (or of a child), not an error of ours.
                if (error.kind() != ErrorKind::no_such_process && process_exists(pid))
                    throw;
                live_roots_.erase(pid);
                if (live_roots_.empty() && std::ranges::count(options_.pids, pid) > 0) {
                    roots_ended_ = true; // the last of the targets: the session ends after this round
                    ++entry;
                } else {
                    sink_.add_modules(entry->second->module_records());
                    entry = processes_.erase(entry);
                }
                continue;
            }
            ProcessSampler& process = *entry->second;
            ++entry;
            for (SampledStack& stack : stacks) {
                sink_.add_sampled_stack(process, stack.thread, stack.frames);
                ++report_.thread_samples;
                report_.gil_samples += stack.thread.holds_gil;
                report_.active_samples += stack.thread.running();
                gil_held = gil_held || stack.thread.holds_gil;
                active = active || stack.thread.running();
            }
        }
        report_.gil_ticks += gil_held;
        report_.active_ticks += active;
        update_process_facts();
        ++report_.ticks;
        if (sink_.wants_periods())
            sink_.on_period(monotonic_ns(), processes_, PeriodSampling::rounds);
    }

    SessionReport& report() { return report_; }

    // Tells the sink which modules the processes still sampled have mapped.
    void finish() {
        for (const auto& [pid, process] : processes_)
            sink_.add_modules(process->module_records());
    }

  private:
    // The processes sampled, and the targets' CPython version: detection may succeed only after
    // start-up (a command we launched), so it is kept current.
    void update_process_facts() {
        report_.processes = processes_.size();
        report_.pids.clear();
        for (const auto& [pid, process] : processes_)
            report_.pids.push_back(pid);
        report_.python_version = targets_python_version(options_.pids, processes_, report_.python_version);
    }

    // What identifies the program a process runs: its auxiliary vector, which every exec
    // writes anew (entry point, load addresses, the address of its random bytes). Empty when it
    // cannot be read (the process ended, or its main thread did), and while an exec is still
    // writing it (the new program's vector reads as zeros for a moment): neither is an exec.
    static std::string program_id(int pid) {
        std::string auxv = read_small_file("/proc/" + std::to_string(pid) + "/auxv");
        constexpr std::uint64_t at_entry = 9;
        for (std::size_t at = 0; at + 16 <= auxv.size(); at += 16) {
            std::uint64_t key = 0, value = 0;
            std::memcpy(&key, auxv.data() + at, 8);
            std::memcpy(&value, auxv.data() + at + 8, 8);
            if (key == at_entry)
                return value != 0 ? auxv : std::string();
        }
        return {};
    }

    // A process that exec'd runs a new program: new maps, modules and interpreter. Its sampler is
    // made anew, a few times a second at most (a file read per process). The kernel tells the
    // perf_event engine; the ptrace engine has to look.
    void follow_execs() {
        const auto now = Clock::now();
        if (now - last_exec_check_ < std::chrono::milliseconds(200))
            return;
        last_exec_check_ = now;
        for (auto& [pid, process] : processes_) {
            std::string id = program_id(pid);
            std::string& known = program_ids_[pid];
            if (id.empty() || id == known)
                continue;
            const bool first_look = known.empty();
            known = std::move(id);
            if (first_look)
                continue;
            try {
                auto fresh = std::make_unique<ProcessSampler>(pid, options_.stacks);
                sink_.add_modules(process->module_records());
                process = std::move(fresh);
                ++report_.execs;
            } catch (const Error&) {
                // It ended, or exec'd into something we cannot read: the next round tells which.
            }
        }
    }

    // Adds descendants that appeared and drops processes that ended, at most once a second
    // (listing children costs a file read per thread).
    void follow_descendants() {
        auto now = Clock::now();
        if (now - last_follow_ < std::chrono::seconds(1) && !processes_.empty() &&
            last_follow_ != Clock::time_point())
            return;
        last_follow_ = now;
        std::erase_if(processes_, [&](const auto& entry) {
            if (live_roots_.contains(entry.first) || process_exists(entry.first))
                return false;
            sink_.add_modules(entry.second->module_records());
            return true;
        });
        for (int root : options_.pids)
            for (int pid : descendants_of(root)) {
                if (processes_.contains(pid))
                    continue;
                try {
                    std::string id = program_id(pid);
                    processes_.emplace(pid, std::make_unique<ProcessSampler>(pid, options_.stacks));
                    program_ids_[pid] = std::move(id);
                } catch (const Error&) {
                    // It exited, or exec'd into something we cannot read, between listing and opening.
                }
            }
    }

    const SessionOptions& options_;
    SampleSink& sink_;
    ProcessSamplers processes_;
    Clock::time_point last_follow_{};
    Clock::time_point last_exec_check_{};
    std::map<int, std::string> program_ids_; // pid -> program_id() when last looked
    SessionReport report_;
    std::set<int> live_roots_; // the targets (--pid) not seen ending yet
    bool roots_ended_ = false; // the last of them was seen ending during a round
};

} // namespace

// The ptrace engine's loop: every tick, stop each selected thread just long enough to copy it.
SessionReport run_ptrace_session(const SessionOptions& options, SampleSink& sink) {
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
    if (options.on_started)
        options.on_started();
    OwnCpuWindows own_cpu;
    own_cpu.start(monotonic_ns(), report.thread_samples);
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
        own_cpu.note(monotonic_ns(), report.thread_samples);
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
                    std::fprintf(stderr, "sampler: cannot keep up with %g Hz: %.0f Hz achieved so far\n",
                                 options.rate_hz, double(report.ticks) / elapsed);
                    last_warning = now;
                }
            }
        }
    }
    report.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const OwnCpuWindows::Figures from_start = own_cpu.from_start(report.thread_samples);
    const OwnCpuWindows::Figures steady = own_cpu.steady(report.thread_samples);
    report.sampling_cpu_seconds = from_start.seconds;
    report.sampling_cpu_samples = from_start.samples;
    report.steady_cpu_seconds = steady.seconds;
    report.steady_cpu_samples = steady.samples;
    session.finish();
    return report;
}

} // namespace sampler

namespace sampler {

bool launched_command_ended(const SessionOptions& options, SessionReport& report, int attempts) {
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (attempt > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (std::optional<int> status = reap_exited_child(options.main_pid())) {
            report.exit_status = *status;
            return true;
        }
    }
    return false;
}

bool wants_ptrace_engine(const SessionOptions& options) {
    // Exact Python stacks (--blocking) need the thread stopped.
    return options.capture == CaptureChoice::ptrace || options.stacks.blocking;
}

namespace {

SessionReport run_chosen_engine(const SessionOptions& options, SampleSink& sink) {
    if (!wants_ptrace_engine(options)) {
        std::string why_not;
        if (auto report = run_perf_session(options, sink, why_not))
            return *report;
        if (options.capture == CaptureChoice::perf)
            throw Error(ErrorKind::unsupported, "--capture perf: " + why_not);
        std::fprintf(stderr,
                     "sampler: %s; sampling with ptrace stops instead (slower; --capture ptrace "
                     "silences this)\n",
                     why_not.c_str());
    }
    return run_ptrace_session(options, sink);
}

} // namespace

SessionReport run_sampling_session(const SessionOptions& options, SampleSink& sink) {
    SessionReport report = run_chosen_engine(options, sink);
    // Ctrl-C on a terminal reaches a command we started too (it is in our process group): when
    // it ends at once, its status is sampler's (130, as a shell would say); one that runs on
    // after 200 ms is left running.
    if (options.target_is_child && report.reason == StopReason::stop_signal && report.exit_status < 0)
        launched_command_ended(options, report, 20);
    return report;
}

} // namespace sampler

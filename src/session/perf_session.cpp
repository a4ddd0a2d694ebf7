#include "perf_session.hpp"

#include "covered_time.hpp"
#include "kernel_python_walker.hpp"
#include "own_cpu.hpp"
#include "proc_threads.hpp"
#include "sampler/clock.hpp"
#include "sampler/error.hpp"
#include "stop_signal.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <ranges>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sampler {
namespace {

using Clock = std::chrono::steady_clock;

// Whether an interpreter runtime at `address` would lie elsewhere after an exec: the kernel
// randomizes addresses (randomize_va_space) and it is in a PIE executable or a shared library,
// mapped high (x86-64: from 0x5555... up), not linked at a fixed low address.
bool runtime_is_randomized(std::uint64_t address) {
    static const bool randomizing = [] {
        std::FILE* file = std::fopen("/proc/sys/kernel/randomize_va_space", "r");
        int value = 0;
        if (file) {
            if (std::fscanf(file, "%d", &value) != 1)
                value = 0;
            std::fclose(file);
        }
        return value != 0;
    }();
    return randomizing && address >= (std::uint64_t{1} << 40);
}

// Turns the engine's records into stacks for the sink: one ProcessSampler per process seen,
// made anew when a process execs (its maps, modules and interpreter are new).
class PerfSession final : public PerfRecordHandler {
  public:
    PerfSession(const SessionOptions& options, SampleSink& sink, SessionReport& report)
        : options_(options), sink_(sink), report_(report), period_ns_(std::max(1.0, 1e9 / options.rate_hz)) {
        for (int pid : options.pids) {
            if (!processes_.contains(pid))
                processes_.emplace(pid, std::make_unique<ProcessSampler>(pid, options.stacks));
            roots_.insert(pid);
            live_roots_.insert(pid);
            followed_.insert(pid);
        }
        update_process_facts();
    }

    // With --subprocesses: the descendants the targets had when sampling started.
    void follow(int pid) { followed_.insert(pid); }

    void start_clock(std::uint64_t now_ns) { start_ns_ = now_ns; }
    void load_symbols() {
        for (auto& [pid, process] : processes_)
            process->load_symbols();
    }
    void set_wall_mode(bool value) { wall_mode_ = value; }
    void set_python_walker(KernelPythonWalker* walker) {
        walker_ = walker;
        for (auto& [pid, process] : processes_)
            teach_walker_threads(*process);
    }

    void on_sample(RawSample& sample) override {
        if (!options_.subprocesses && !roots_.contains(sample.pid))
            return;
        if (sample.off_cpu) {
            // The stack it leaves the CPU with: kept (not unwound) until a tick needs it.
            WallThread& thread = wall_[sample.tid];
            thread.pid = sample.pid;
            ProcessSampler* process = process_for(sample.pid);
            if (sample.stack_bytes)
                sample.take_stack(process ? process->stack_bytes_needed(sample.snapshot.registers.rsp)
                                          : sample.stack_size);
            std::swap(thread.off_sample, sample);
            thread.have_off_sample = true;
            thread.off_stack.reset();
            return;
        }
        ++report_.received_samples;
        ProcessSampler* process = process_for(sample.pid);
        if (!process)
            return;
        if (sample.python_walk && !process->is_python()) {
            // Walked in the program the process ran before an exec: that program is gone (a
            // perf record's stack copy, with --native, is of the new one).
            if (!sample.has_registers)
                return;
            sample.python_walk = nullptr;
            sample.python_walk_size = 0;
        }
        if (!process->is_python() && !sample.has_registers && !copy_native_stack(*process, sample))
            return;
        // Native samples, and --native samples whose Python half the kernel walked, need
        // nothing more from the target: copy the part of the stack that can hold frames (and
        // the walk) and unwind later, so the rings are emptied at once even while the first
        // stacks load their modules' symbols (else the kernel drops records).
        if (sample.stack_bytes && (!process->is_python() || sample.python_walk)) {
            queue_for_later(*process, sample);
            return;
        }
        resolve_and_add(*process, sample);
    }

    // Unwinds queued native samples for up to `budget`; true when the queue is empty.
    bool process_queue(std::chrono::steady_clock::duration budget) {
        const auto until = std::chrono::steady_clock::now() + budget;
        while (!queue_.empty()) {
            RawSample sample = std::move(queue_.front());
            queue_.pop_front();
            queued_bytes_ -= std::min(queued_bytes_, sample.snapshot.stack.size() + sample.kept_walk.size());
            if (ProcessSampler* process = process_for(sample.pid))
                resolve_and_add(*process, sample);
            recycle(sample.snapshot.stack);
            recycle(sample.kept_walk);
            if (std::chrono::steady_clock::now() >= until)
                break;
        }
        return queue_.empty();
    }

  private:
    // A session sampling Python frames only has the kernel copy no stacks; a process that is
    // not Python (it exec'd a native program, or a native child) then has its thread stopped
    // briefly for the copy, as the ptrace engine does, and the user is told once.
    bool copy_native_stack(ProcessSampler& process, RawSample& sample) {
        if (told_native_.insert(sample.pid).second)
            std::fprintf(stderr,
                         "sampler: process %d runs a program that is not Python (after an exec, or a child): "
                         "without --native the kernel copies no stacks, so its threads are stopped briefly "
                         "for each sample\n",
                         sample.pid);
        if (!process.copy_sleeping_thread(sample.tid, sample))
            return false;
        report_.pauses.add(sample.snapshot.pause_nanoseconds);
        return true;
    }

    // A Python thread read the slower way: the kernel's walker learns its thread state (and
    // its process's layout), so that its next samples are walked at the sample instead.
    void teach_walker(ProcessSampler& process, int tid) {
        if (!teach_walker_layout(process))
            return;
        if (const std::optional<pw_thread> thread = process.kernel_walk_thread(tid))
            walker_->set_thread(process.pid(), tid, *thread);
    }

    // A process first looked into: the walker learns every thread its interpreter lists, so
    // that each is walked from its first sample on, not from the one after the first sample
    // read the slower way is resolved (with --native that waits on the sample's unwinding).
    void teach_walker_threads(ProcessSampler& process) {
        if (!process.is_python() || !teach_walker_layout(process))
            return;
        for (const auto& [tid, thread] : process.kernel_walk_threads())
            walker_->set_thread(process.pid(), tid, thread);
    }

    // False when the process's samples are not walked in the kernel.
    bool teach_walker_layout(ProcessSampler& process) {
        if (!walker_)
            return false;
        if (walker_->knows_process(process.pid()))
            return true;
        const std::optional<pw_layout> layout = process.kernel_walk_layout();
        return layout && walker_->set_layout(process.pid(), *layout);
    }

    void queue_for_later(ProcessSampler& process, RawSample& sample) {
        if (queued_bytes_ > max_queued_bytes) {
            ++report_.lost_samples;
            return;
        }
        reuse_buffer(sample.snapshot.stack);
        sample.take_stack(process.stack_bytes_needed(sample.snapshot.registers.rsp));
        if (sample.python_walk) {
            reuse_buffer(sample.kept_walk);
            sample.keep_python_walk();
        }
        queued_bytes_ += sample.snapshot.stack.size() + sample.kept_walk.size();
        queue_.push_back(std::move(sample)); // the walk's buffer moves with it: python_walk stays valid
    }

    void reuse_buffer(std::vector<std::uint8_t>& buffer) {
        if (buffer.capacity() == 0 && !spare_buffers_.empty()) {
            buffer = std::move(spare_buffers_.back());
            spare_buffers_.pop_back();
        }
    }

    // A queued sample's stack and walk buffers go to the next ones: a fresh buffer per sample is
    // a large allocation and its free, and glibc then consolidates its small free chunks each time.
    void recycle(std::vector<std::uint8_t>& buffer) {
        if (buffer.capacity() == 0 || spare_buffers_.size() >= max_spare_buffers)
            return;
        buffer.clear();
        spare_buffers_.push_back(std::move(buffer));
    }

    void resolve_and_add(ProcessSampler& process, RawSample& sample) {
        std::optional<SampledStack> stack;
        try {
            stack = process.sample_from(sample, report_);
        } catch (const Error&) {
            // Its /proc files went away with it: the process ended between sample and read.
            return;
        }
        if (!stack || stack->frames.empty())
            return;
        if (!sample.python_walk && stack->python)
            teach_walker(process, sample.tid);
        stack->thread.sampled_ns = sample.time_ns;
        sink_.add_sampled_stack(process, stack->thread, stack->frames);
        process.reuse_frames(std::move(stack->frames));
        ++report_.thread_samples;
        report_.active_samples += 1;
        report_.gil_samples += stack->thread.holds_gil;
        // For the shares: the span of time the sample stands for, its clock's period up to it.
        const std::uint64_t span =
            sample.period_ns > 0 ? sample.period_ns : static_cast<std::uint64_t>(period_ns_);
        const std::uint64_t from = sample.time_ns > span ? sample.time_ns - span : 0;
        active_time_.add(from, sample.time_ns);
        if (stack->thread.holds_gil)
            gil_time_.add(from, sample.time_ns);
    }

  public:
    void on_switch(const PerfSwitchRecord& record) override {
        if (!options_.subprocesses && !roots_.contains(record.pid))
            return;
        WallThread& thread = wall_[record.tid];
        thread.pid = record.pid;
        if (thread.switches.size() >= max_pending_switches) {
            apply(thread, thread.switches.front());
            thread.switches.pop_front();
        }
        thread.switches.push_back({record.time_ns, record.out, record.out && record.preempted});
    }

    // Wall-clock mode: a thread off its CPU at a tick's time gets the stack it left with, once
    // per tick, with no stop and (after the first tick) no read at all. Its state is the one at
    // `tick_ns` by the switch records' times, not the one when the tick is handled: we are woken
    // by those records, often on the CPU the thread just left, so at handling time a busy thread
    // would nearly always read as off its CPU.
    void emit_wall_tick(std::uint64_t tick_ns) {
        ++wall_ticks_;
        for (auto& [tid, thread] : wall_) {
            for (; !thread.switches.empty() && thread.switches.front().time_ns <= tick_ns;
                 thread.switches.pop_front())
                apply(thread, thread.switches.front());
            if (thread.on_cpu)
                continue;
            if (!thread.off_stack) {
                if (stacks_from_switch_samples_ && !thread.have_off_sample)
                    continue; // no stack known yet
                ProcessSampler* process = process_for(thread.pid);
                if (!process)
                    continue;
                RawSample& sample = thread.off_sample;
                sample.pid = thread.pid;
                sample.tid = tid;
                sample.has_registers = stacks_from_switch_samples_ && sample.has_registers;
                std::optional<SampledStack> stack;
                try {
                    stack = process->sample_from(sample, report_);
                } catch (const Error&) {
                }
                thread.off_stack = stack ? std::move(*stack) : SampledStack{};
                thread.have_off_sample = false; // its stack buffer went into the resolution
            }
            if (thread.off_stack->frames.empty())
                continue;
            thread.off_stack->thread.state = thread.preempted ? 'R' : 'S';
            thread.off_stack->thread.off_cpu = true;
            ProcessSampler* process = process_for(thread.pid);
            if (!process)
                continue;
            thread.off_stack->thread.name = process->thread_name(tid); // threading names come later
            thread.off_stack->thread.sampled_ns = tick_ns;
            sink_.add_sampled_stack(*process, thread.off_stack->thread, thread.off_stack->frames);
            ++report_.thread_samples;
            report_.idle_samples += 1;
        }
    }

    // Threads that were already off their CPU when sampling started: no switch will tell their
    // stack until they run again. Python frames can be read at any time; a native stack needs
    // one copy, taken with a ptrace stop of that sleeping thread, once.
    void note_sleeping_thread(int pid, int tid, bool take_native_copy) {
        WallThread& thread = wall_[tid];
        thread.pid = pid;
        thread.on_cpu = false;
        if (ProcessSampler* process = process_for(pid))
            process->thread_name(tid); // known before the first tick, so names are read first
        if (!take_native_copy)
            return;
        ProcessSampler* process = process_for(pid);
        if (!process)
            return;
        if (process->copy_sleeping_thread(tid, thread.off_sample)) {
            thread.have_off_sample = true;
            report_.pauses.add(thread.off_sample.snapshot.pause_nanoseconds);
        }
    }

    void set_stacks_from_switch_samples(bool value) { stacks_from_switch_samples_ = value; }
    std::uint64_t wall_ticks() const { return wall_ticks_; }

    void on_task_start(const PerfTaskRecord& task) override {
        // A new process (its main thread), which the inherited events sample from now on. The
        // walker walks it as its parent (whose memory it copies) from now on too: a short-lived
        // child's first moments would otherwise be read only after its process was looked into,
        // late.
        // Not for a start told twice (the process looked into already), nor for one made up
        // from /proc after lost records (no time, and an ancestor for its forking thread).
        if (options_.subprocesses && task.pid == task.tid) {
            followed_.insert(task.pid);
            if (walker_ && task.pid != task.ppid && task.time_ns != 0 && !processes_.contains(task.pid)) {
                walked_as_parent_.erase(task.pid);
                walker_->forget_process(task.pid); // what it knew of an earlier process of this pid
                if (walker_->inherit_from_parent(task.pid, task.tid, task.ppid, task.ptid))
                    walked_as_parent_[task.pid] = ForkedChild{task.time_ns, runtime_at_fork(task.ppid)};
            }
        }
        if (wall_mode_ && (options_.subprocesses || roots_.contains(task.pid)) &&
            started_threads_.size() < max_pending_switches)
            started_threads_.emplace_back(task.pid, task.tid);
    }

    // Where a forking process's interpreter runtime is: its sampler's, or, for a child not
    // looked into yet, what its own parent's was at its fork (0: not known).
    std::uint64_t runtime_at_fork(int parent) const {
        if (auto found = processes_.find(parent); found != processes_.end())
            return found->second->python_runtime_address();
        if (auto forked = walked_as_parent_.find(parent); forked != walked_as_parent_.end())
            return forked->second.runtime;
        return 0;
    }

    // Threads created since the last drain, whose switch records now come from events opened
    // in that drain: one that went to sleep before they were opened would tell nothing until it
    // woke. Its state is read once; asleep, it is noted as the threads asleep at the start are.
    void note_started_threads() {
        for (auto [pid, tid] : started_threads_) {
            if (auto known = wall_.find(tid); known != wall_.end() && !known->second.switches.empty())
                continue; // its records came in already
            if (auto info = read_thread_info(pid, tid); info && !info->running() && !info->exited())
                note_sleeping_thread(pid, tid, stacks_from_switch_samples_);
        }
        started_threads_.clear();
    }

    void on_task_exit(const PerfTaskRecord& task) override {
        wall_.erase(task.tid);
        if (walker_)
            walker_->forget_thread(task.tid);
        // The main thread may end alone (pthread_exit): the process goes on in its others.
        if (task.pid == task.tid && !process_exists(task.pid)) {
            walked_as_parent_.erase(task.pid);
            if (walker_)
                walker_->forget_process(task.pid);
            followed_.erase(task.pid);
            live_roots_.erase(task.pid);
            if (roots_.contains(task.pid) && live_roots_.empty())
                roots_ended_ = true; // the last of the targets: its sampler stays for finish()
            else if (auto process = processes_.find(task.pid); process != processes_.end()) {
                process_queue(std::chrono::hours(1)); // its queued samples need its sampler
                sink_.add_modules(process->second->module_records());
                processes_.erase(process);
            }
            return;
        }
        if (auto process = processes_.find(task.pid); process != processes_.end())
            process->second->forget_thread(task.tid);
    }

    void on_exec(int pid) override {
        walked_as_parent_.erase(pid);
        auto process = processes_.find(pid);
        if (process == processes_.end()) {
            if (walker_)
                walker_->forget_process(pid); // a child not looked into yet, walked as its parent
            return;
        }
        process_queue(std::chrono::hours(1)); // its queued samples belong to the old program
        if (walker_)
            walker_->forget_process(pid);
        sink_.add_modules(process->second->module_records());
        processes_.erase(process);
        ++report_.execs;
        process_for(pid);
    }

    void on_new_mapping(int pid) override {
        if (auto process = processes_.find(pid); process != processes_.end())
            process->second->note_new_mapping();
    }

    // Between drains: what is read at most once a second (thread names), the processes
    // followed, and the shares. Woken at every sample (Python), the first two are looked at
    // every few milliseconds only, unless `all` asks for them.
    void end_of_drain(std::uint64_t now_ns, bool all = false) {
        if (all || now_ns >= facts_updated_ns_ + 10'000'000) {
            facts_updated_ns_ = now_ns;
            update_processes();
        }
        double elapsed = now_ns > start_ns_ ? double(now_ns - start_ns_) : 0;
        report_.ticks = wall_mode_ ? wall_ticks_ : static_cast<std::uint64_t>(elapsed / period_ns_);
        const auto ticks_covered = [&](const CoveredTime& time) {
            return std::min(static_cast<std::uint64_t>(double(time.covered_ns()) / period_ns_ + 0.5),
                            report_.ticks);
        };
        report_.active_ticks = ticks_covered(active_time_);
        report_.gil_ticks = ticks_covered(gil_time_);
    }

    // Whether every target has ended: seen in an exit record, or (records can be lost to a
    // full ring) when asked to look.
    bool roots_ended(bool look) {
        if (look)
            std::erase_if(live_roots_, [](int pid) { return !process_exists(pid); });
        return roots_ended_ || live_roots_.empty();
    }

    void finish() {
        for (const auto& [pid, process] : processes_)
            sink_.add_modules(process->module_records());
    }

    const ProcessSamplers& processes() const { return processes_; }

  private:
    struct Switch {
        std::uint64_t time_ns = 0;
        bool out = false;
        bool preempted = false;
    };
    struct WallThread;

    void apply(WallThread& thread, const Switch& change) const {
        thread.on_cpu = !change.out;
        thread.preempted = change.preempted;
        if (change.out && !stacks_from_switch_samples_)
            thread.off_stack.reset(); // Python-only: read its frames again, once, now it sleeps
    }

    // Each process's between-sample reads (thread names), then the facts below.
    void update_processes() {
        // Children walked as their parent that ended before they were looked into, and whose
        // exit record was not handed on (lost, or they were gone before they became targets).
        // Kept for a second after their fork: a go-between of a double fork exits at once, and
        // its child's fork record, read at a later drain, inherits through it.
        const std::uint64_t kept_after =
            monotonic_ns() - std::min<std::uint64_t>(monotonic_ns(), 1'000'000'000);
        for (auto child = walked_as_parent_.begin(); child != walked_as_parent_.end();) {
            if (child->second.fork_ns > kept_after || process_exists(child->first)) {
                ++child;
                continue;
            }
            walker_->forget_process(child->first);
            child = walked_as_parent_.erase(child);
        }
        for (auto& [pid, process] : processes_) {
            try {
                const bool was_python = process->is_python();
                process->between_samples();
                // Its interpreter found only now (it was starting up: after an exec, or a
                // command sampler started): its threads are walked from their next samples.
                if (!was_python && process->is_python())
                    teach_walker_threads(*process);
            } catch (const Error& error) {
                // A child that ended before its exit record was read (a short-lived fork): the
                // record removes it; anything else is ours to report.
                if (error.kind() != ErrorKind::no_such_process && process_exists(pid))
                    throw;
            }
        }
        update_process_facts();
    }

    // The processes followed (targets, and with --subprocesses their descendants: from fork and
    // exit records, so an idle worker with no sample yet counts too), and the targets' CPython
    // version, which detection may find only after start-up.
    void update_process_facts() {
        report_.pids.clear();
        std::ranges::set_union(followed_, processes_ | std::views::keys, std::back_inserter(report_.pids));
        report_.processes = report_.pids.size();
        report_.python_version = targets_python_version(options_.pids, processes_, report_.python_version);
    }

    ProcessSampler* process_for(int pid) {
        if (auto found = processes_.find(pid); found != processes_.end())
            return found->second.get();
        if (unreadable_.contains(pid))
            return nullptr;
        try {
            auto process = std::make_unique<ProcessSampler>(pid, options_.stacks);
            // What the walker knew of an earlier process of this pid goes. What it was told at
            // this one's fork stays while the process still runs its parent's program: its walks
            // since the fork are then of this program. (It may have exec'd before its exec record
            // was read: the runtime elsewhere says so, where addresses are randomized: not with
            // randomization off, nor for an interpreter linked at a fixed address (Debian's
            // non-PIE python3); nor when the parent's runtime was not known at the fork. Then
            // they are dropped.)
            bool walked_since_fork = false;
            if (auto forked = walked_as_parent_.find(pid); forked != walked_as_parent_.end()) {
                const std::uint64_t runtime = forked->second.runtime;
                walked_since_fork =
                    runtime_is_randomized(runtime) && runtime == process->python_runtime_address();
                if (walked_since_fork)
                    process->accept_walks_from(forked->second.fork_ns);
                walked_as_parent_.erase(forked);
            }
            if (walker_ && !walked_since_fork)
                walker_->forget_process(pid);
            ProcessSampler& added = *processes_.emplace(pid, std::move(process)).first->second;
            teach_walker_threads(added);
            return &added;
        } catch (const Error&) {
            unreadable_.insert(pid); // it exited, or exec'd into something we cannot read
            return nullptr;
        }
    }

    const SessionOptions& options_;
    SampleSink& sink_;
    SessionReport& report_;
    double period_ns_;
    std::uint64_t start_ns_ = 0;
    std::uint64_t facts_updated_ns_ = 0; // end_of_drain's last look at the processes
    bool wall_mode_ = false;
    ProcessSamplers processes_;
    static constexpr std::size_t max_queued_bytes = 256u << 20;
    std::deque<RawSample> queue_; // samples copied out of the rings (queue_for_later), not yet unwound
    std::size_t queued_bytes_ = 0;
    static constexpr std::size_t max_spare_buffers = 64;
    std::vector<std::vector<std::uint8_t>> spare_buffers_; // buffers of unwound samples, for the next
    std::set<int> unreadable_;
    // Wall-clock mode: every thread's on/off-CPU state and the stack it has while off.
    struct WallThread {
        int pid = 0;
        bool on_cpu = true;
        bool preempted = false;
        bool have_off_sample = false;
        RawSample off_sample;
        std::optional<SampledStack> off_stack; // resolved once per stay off the CPU
        std::deque<Switch> switches;           // received, not yet reached by a tick
    };
    static constexpr std::size_t max_pending_switches = 4096;
    std::unordered_map<int, WallThread> wall_;
    std::vector<std::pair<int, int>> started_threads_; // (pid, tid) created since the last drain
    bool stacks_from_switch_samples_ = false;          // native stacks: from the switch samples
    std::uint64_t wall_ticks_ = 0;
    CoveredTime active_time_;              // time some sampled thread was on a CPU
    CoveredTime gil_time_;                 // ... and held the GIL
    std::unordered_set<int> roots_;        // the targets (--pid)
    std::set<int> live_roots_;             // ... not seen ending yet
    bool roots_ended_ = false;             // the last of them was seen ending
    std::set<int> followed_;               // every process sampled, whether it had samples or not
    std::unordered_set<int> told_native_;  // processes copy_native_stack has warned about
    KernelPythonWalker* walker_ = nullptr; // the capture's, when Python frames are walked in the kernel
    // Children the walker was told to walk as their parent at their fork, not yet looked into.
    struct ForkedChild {
        std::uint64_t fork_ns = 0; // CLOCK_MONOTONIC
        // Where its parent's interpreter runtime was at the fork (0: not known): kept here, as
        // the parent may be gone by the child's first look (a double fork, a daemon).
        std::uint64_t runtime = 0;
    };
    std::unordered_map<int, ForkedChild> walked_as_parent_;
};

} // namespace

std::optional<SessionReport> run_perf_session(const SessionOptions& options, SampleSink& sink,
                                              std::string& why_not) {
    return run_perf_session(options, sink, why_not, [](const PerfCaptureOptions& capture_options) {
        return std::make_unique<PerfCapture>(capture_options);
    });
}

std::optional<SessionReport> run_perf_session(const SessionOptions& options, SampleSink& sink,
                                              std::string& why_not, const PerfSourceFactory& make_source) {
    const StackOptions& stacks = options.stacks;
    PerfCaptureOptions capture_options;
    capture_options.rate_hz = options.rate_hz;
    capture_options.follow_children = options.subprocesses;
    capture_options.stack_bytes = stacks.max_stack_bytes;

    SessionReport report;
    report.engine = "perf_event";
    PerfSession session(options, sink, report);
    const bool python = !report.python_version.empty();
    // Python-only sampling needs only to know which thread ran; its frames are read from memory
    // at once, so the reader is woken at each sample.
    capture_options.registers_and_stack = !python || stacks.native;
    capture_options.wake_per_sample = python;
    // Better: the kernel walks the frames at the sample (BPF) and nobody is woken; a thread is
    // read the way above until its thread state is known, and whenever the walk cannot finish.
    // With --native the walk is the sample's Python half, paired with its perf record (which
    // still wakes the reader, for the samples whose walk could not finish), and nothing is read.
    std::unique_ptr<KernelPythonWalker> walker;
    const bool walks = python && !stacks.no_bpf && !stacks.include_idle && !sink.reads_at_each_sample();
    if (walks) {
        walker = KernelPythonWalker::load(report.kernel_walk_unavailable);
        capture_options.python_walker = walker.get();
    }
    // Clocks of one CPU each, which a thread's switches do not move (a per-thread clock costs
    // about a microsecond per context switch), with the program keeping the targets' ticks: the
    // walker, or where it walks nothing (native programs, --asyncio's reads), the same program
    // as a filter alone. --idle watches each thread's switches: per-thread clocks.
    capture_options.per_cpu = !stacks.per_thread_clocks && !stacks.include_idle && !stacks.no_bpf;
    if (capture_options.per_cpu && !walks) {
        std::string why_not;
        walker = KernelPythonWalker::load(why_not);
        capture_options.sample_filter = walker.get();
        if (!walker)
            report.per_cpu_refusal = why_not;
    } else if (capture_options.per_cpu && !walker) {
        report.per_cpu_refusal =
            "no BPF program to keep the targets' ticks: " + report.kernel_walk_unavailable;
    }
    const bool wall = stacks.include_idle;
    capture_options.off_cpu = wall;
    session.set_wall_mode(wall);
    session.set_stacks_from_switch_samples(capture_options.registers_and_stack);
    if (capture_options.registers_and_stack)
        session.load_symbols();
    const std::unique_ptr<PerfRecordSource> source = make_source(capture_options);
    PerfRecordSource& capture = *source;
    session.set_python_walker(capture.python_walker());
    PerfUnavailable why;
    for (int pid : options.pids)
        if (!capture.add_process(pid, why)) {
            if (why.error == ESRCH)
                throw Error(ErrorKind::no_such_process, "process " + std::to_string(pid) + " has exited");
            // One engine for all the targets: the fallback samples them all with ptrace.
            why_not =
                options.pids.size() > 1 ? "process " + std::to_string(pid) + ": " + why.reason : why.reason;
            return std::nullopt;
        }
    std::vector<int> pids = options.pids;
    if (options.subprocesses)
        for (int root : options.pids)
            for (int child : descendants_of(root)) {
                if (std::ranges::count(pids, child) > 0)
                    continue; // also a target, or a descendant of two (--pid PARENT,CHILD)
                pids.push_back(child);
                session.follow(child);
                if (!capture.add_process(child, why) && why.error != ESRCH)
                    std::fprintf(stderr, "sampler: cannot sample child process %d: %s\n", child,
                                 why.reason.c_str());
            }
    if (wall) {
        for (int pid : pids)
            for (int tid : list_threads(pid))
                if (auto info = read_thread_info(pid, tid); info && !info->running())
                    session.note_sleeping_thread(pid, tid, capture_options.registers_and_stack);
    }
    session.end_of_drain(monotonic_ns(), true); // thread names, before the first tick
    if (options.on_started)
        options.on_started();
    report.per_cpu_clocks = capture.per_cpu_clocks();
    if (!capture.per_cpu_refusal().empty())
        report.per_cpu_refusal = capture.per_cpu_refusal();
    if (capture.kernel_time_excluded())
        std::fprintf(stderr,
                     "sampler: perf_event without CAP_PERFMON samples user mode only: time the target "
                     "spends in system calls is not counted\n");

    // Our CPU is counted from the end of the first drain that had samples: start-up (reading
    // symbols and line tables for the first stacks) is not the cost of a sample.
    OwnCpuWindows own_cpu;
    const std::uint64_t start_ns = monotonic_ns();
    session.start_clock(start_ns);
    const std::uint64_t on_cpu_at_start = capture.on_cpu_nanoseconds();
    auto last_expected_update = Clock::now();
    const std::uint64_t deadline_ns =
        options.duration_seconds > 0 ? start_ns + static_cast<std::uint64_t>(options.duration_seconds * 1e9)
                                     : UINT64_MAX;
    Clock::time_point last_alive_check = Clock::now();
    const auto period_ns = static_cast<std::uint64_t>(std::max(1.0, 1e9 / options.rate_hz));
    std::uint64_t next_tick_ns = start_ns + period_ns;
    // Wall-clock ticks: --idle's, and a sink's that watches threads whether they run or not.
    const bool ticking = wall || sink.wants_periods();
    // How long the loop may sleep when nothing wakes it. Python-only samples the walker takes
    // mostly wake nobody (it wakes us as its ring fills, and after each run of a CPU's samples a
    // clock keeps its period for): a few looks a second are all the reading needs, if the sink
    // agrees (top's screen does not); otherwise perf records wake us, and 50 ms keeps the checks
    // below prompt.
    const auto longest_sleep_ms = static_cast<std::uint64_t>(
        std::clamp(capture_options.python_walker && !stacks.native ? sink.longest_quiet_ms() : 50, 1, 250));
    while (true) {
        std::uint64_t now_ns = monotonic_ns();
        std::uint64_t wake_ns =
            std::min(deadline_ns, ticking ? next_tick_ns : now_ns + longest_sleep_ms * 1'000'000);
        if (!session.process_queue(std::chrono::milliseconds(2)))
            wake_ns = now_ns; // more to unwind: only empty the rings, do not wait
        if (now_ns < wake_ns)
            capture.wait(static_cast<int>(
                std::min<std::uint64_t>((wake_ns - now_ns + 999'999) / 1'000'000, longest_sleep_ms)));
        capture.drain(session);
        if (wall)
            session.note_started_threads();
        now_ns = monotonic_ns();
        own_cpu.note(now_ns, report.thread_samples);
        if (ticking && next_tick_ns <= now_ns) {
            if (now_ns > next_tick_ns + 100 * period_ns) {
                // Far behind (the machine took our CPU): skip, rather than emit a burst.
                report.late_ticks += (now_ns - next_tick_ns) / period_ns;
                next_tick_ns = now_ns;
            }
            for (; next_tick_ns <= now_ns; next_tick_ns += period_ns)
                if (wall)
                    session.emit_wall_tick(next_tick_ns);
            if (sink.wants_periods())
                sink.on_period(now_ns, session.processes(), PeriodSampling::jittered);
        }
        session.end_of_drain(now_ns);
        if (stop_requested()) {
            report.reason = StopReason::stop_signal;
            break;
        }
        if (now_ns >= deadline_ns) {
            report.reason = StopReason::duration;
            break;
        }
        // Exit records tell when the main thread ends; a cheap check covers records lost to a
        // full ring, at most every 100 ms.
        const bool look = Clock::now() - last_alive_check > std::chrono::milliseconds(100);
        if (look)
            last_alive_check = Clock::now();
        bool ended = session.roots_ended(look);
        // The exit record can come a moment before the child is reapable.
        if (options.target_is_child && launched_command_ended(options, report, ended ? 100 : 1))
            ended = true;
        if (ended) {
            capture.drain(session); // the last samples before the exit
            session.process_queue(std::chrono::hours(1));
            report.reason = StopReason::target_exited;
            break;
        }
        // The kept share so far, for top: a read of each thread's clock, so a few times a second.
        if (sink.shows_kept_live() && Clock::now() - last_expected_update > std::chrono::milliseconds(250)) {
            last_expected_update = Clock::now();
            const std::uint64_t on_cpu_now = capture.on_cpu_nanoseconds();
            report.expected_samples =
                double(on_cpu_now - std::min(on_cpu_now, on_cpu_at_start)) * options.rate_hz / 1e9;
            report.uncovered_samples = capture.uncovered_samples();
        }
        if (!sink.end_of_round(report)) {
            report.reason = StopReason::sink;
            break;
        }
    }
    // Sampling ends here: what was received and the CPU time that called for it cover the same
    // span, however long unwinding the queue then takes.
    capture.stop();
    capture.drain(session);
    const std::uint64_t on_cpu_at_end = capture.on_cpu_nanoseconds();
    report.elapsed_seconds = double(monotonic_ns() - start_ns) / 1e9;
    session.process_queue(std::chrono::hours(1));
    const OwnCpuWindows::Figures from_start = own_cpu.from_start(report.thread_samples);
    const OwnCpuWindows::Figures steady = own_cpu.steady(report.thread_samples);
    report.sampling_cpu_seconds = from_start.seconds;
    report.sampling_cpu_samples = from_start.samples;
    report.steady_cpu_seconds = steady.seconds;
    report.steady_cpu_samples = steady.samples;
    session.end_of_drain(monotonic_ns(), true);
    const std::uint64_t on_cpu = on_cpu_at_end - std::min(on_cpu_at_end, on_cpu_at_start);
    report.expected_samples = double(on_cpu) * options.rate_hz / 1e9;
    report.uncovered_samples = capture.uncovered_samples();
    report.lost_samples += capture.lost_records();
    report.kernel_time_excluded = capture.kernel_time_excluded();
    session.finish();
    return report;
}

} // namespace sampler

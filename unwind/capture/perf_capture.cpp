#include "perf_capture.hpp"

#include "kernel_python_walker.hpp"
#include "proc_threads.hpp"
#include "sampler/clock.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <random>
#include <sys/ioctl.h>
#include <unistd.h>

namespace sampler {
namespace {

// Room for this many full-size samples per ring: the reader may be kept off a CPU for a few
// milliseconds on a busy machine, and a full ring drops records.
constexpr std::size_t samples_per_ring = 16;

std::size_t next_power_of_two(std::size_t value) {
    std::size_t power = 1;
    while (power < value)
        power <<= 1;
    return power;
}

std::string refusal_reason(int error, bool kernel_excluded) {
    switch (error) {
    case EACCES:
    case EPERM: {
        std::string reason = "perf_event_open was refused (" + std::string(std::strerror(error)) + ")";
        int paranoid = -1;
        if (FILE* file = std::fopen("/proc/sys/kernel/perf_event_paranoid", "r")) {
            if (std::fscanf(file, "%d", &paranoid) != 1)
                paranoid = -1;
            std::fclose(file);
        }
        if (paranoid > 2)
            reason += ": kernel.perf_event_paranoid is " + std::to_string(paranoid) +
                      " (set it to 2 or lower, or grant CAP_PERFMON)";
        else if (kernel_excluded)
            reason +=
                ": the process belongs to another user or is not dumpable (a setuid program; needs "
                "CAP_PERFMON, or root), or a seccomp profile (as in most containers) blocks perf_event_open";
        return reason;
    }
    case ENOSYS:
        return "this kernel has no perf events (CONFIG_PERF_EVENTS), or a seccomp profile hides them";
    case ENOENT:
    case EOPNOTSUPP:
        return "this kernel cannot sample user registers and stacks with a software clock";
    case EMFILE:
    case ENFILE:
        return "out of file descriptors (one perf event per thread is needed)";
    default:
        return std::string("perf_event_open failed: ") + std::strerror(error);
    }
}

} // namespace

PerfCapture::PerfCapture(const PerfCaptureOptions& options) : options_(options) {
    options_.stack_bytes = std::min<std::size_t>(options_.stack_bytes, 65528) & ~std::size_t{7};
    format_.registers_and_stack = options_.registers_and_stack && options_.stack_bytes > 0;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    // The walker's samples are drained every quarter of a second, or sooner when its ring fills:
    // a clock's period would be redrawn only that often (at 1000 Hz, after 250 samples, not 64),
    // and a period that happens to fit a loop's cycle sees the same point of it all that time.
    if (walks_are_samples())
        options_.python_walker->wake_every(static_cast<std::uint32_t>(redraw_every(options_.rate_hz)));
    std::size_t record_bytes = 512 + (format_.registers_and_stack ? options_.stack_bytes : 0);
    ring_pages_ = next_power_of_two((record_bytes * samples_per_ring + page - 1) / page);
    // Wall-clock sampling adds a record at every switch on or off a CPU: threads that hand a
    // lock (the GIL) back and forth switch thousands of times a second.
    if (options_.off_cpu)
        ring_pages_ = std::max<std::size_t>(ring_pages_, 64);
}

bool PerfCapture::probe(int pid, PerfUnavailable& why) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.disabled = 1;
    attr.exclude_hv = 1;
    int error = 0;
    PerfEventFile event = PerfEventFile::open(attr, pid, error);
    if (!event.valid() && (error == EACCES || error == EPERM)) {
        attr.exclude_kernel = 1;
        event = PerfEventFile::open(attr, pid, error);
    }
    if (event.valid())
        return true;
    why = {error, refusal_reason(error, attr.exclude_kernel)};
    return false;
}

perf_event_attr PerfCapture::clock_attributes() const {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    // task-clock: counts only while the thread is on a CPU, so a runnable thread waiting for
    // one gets no samples, and a process never gets more samples than it had CPUs.
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.sample_period = static_cast<std::uint64_t>(std::max(1.0, std::round(1e9 / options_.rate_hz)));
    attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_STREAM_ID;
    if (format_.registers_and_stack) {
        attr.sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
        attr.sample_regs_user = perf_user_register_mask();
        attr.sample_stack_user = static_cast<std::uint32_t>(options_.stack_bytes);
    }
    attr.inherit = 1;
    attr.inherit_thread = options_.follow_children ? 0 : 1; // threads only, unless following forks
    attr.task = 1; // fork and exit records: threads come and go without /proc
    attr.comm = 1; // comm records, with the exec flag
    attr.comm_exec = 1;
    attr.mmap = 1; // new executable mappings: refresh the module map then, not by polling
    attr.mmap2 = 1;
    attr.sample_id_all = 1;
    attr.use_clockid = 1;
    attr.clockid = CLOCK_MONOTONIC;
    attr.exclude_hv = 1;
    attr.exclude_kernel = exclude_kernel_ ? 1 : 0;
    attr.exclude_callchain_kernel = 1;
    if (wakes_at_each_sample()) {
        attr.wakeup_events = 1;
    } else {
        attr.watermark = 1;
        attr.wakeup_watermark = static_cast<std::uint32_t>(ring_pages_ * 4096 / 4);
    }
    return attr;
}

perf_event_attr PerfCapture::one_thread_attributes() const {
    // The clock's settings for an event of one thread alone: no side-band records (they come
    // from the clock event), and not inherited. An inherited copy of a switch event, or
    // `context_switch` on the clock event itself, cost threads created later most of their
    // clock samples (kernel 6.18: 8 Python threads handing the GIL around kept 5% of the rate);
    // threads created later get events of their own when their FORK record is read.
    perf_event_attr attr = clock_attributes();
    attr.task = attr.comm = attr.comm_exec = attr.mmap = attr.mmap2 = 0;
    attr.context_switch = 0;
    attr.inherit = 0;
    attr.inherit_thread = 0;
    return attr;
}

perf_event_attr PerfCapture::switch_attributes() const {
    // The context-switch count with a period of 1: a sample each time the thread leaves a CPU,
    // taken in its context, so its user registers and stack are where it blocked (or was
    // preempted).
    perf_event_attr attr = one_thread_attributes();
    attr.config = PERF_COUNT_SW_CONTEXT_SWITCHES;
    attr.sample_period = 1;
    return attr;
}

perf_event_attr PerfCapture::switch_record_attributes() const {
    // Records of the thread going on and off its CPU, from a dummy event of its own.
    perf_event_attr attr = one_thread_attributes();
    attr.config = PERF_COUNT_SW_DUMMY;
    attr.sample_period = 0;
    attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_STREAM_ID;
    attr.sample_regs_user = 0;
    attr.sample_stack_user = 0;
    attr.context_switch = 1;
    attr.wakeup_events = attr.watermark = attr.wakeup_watermark = 0;
    return attr;
}

perf_event_attr PerfCapture::ring_holder_attributes() const {
    // A dummy event that only owns a thread's ring: the kernel refuses to mmap an inherited
    // per-thread event, but lets it write into the ring of a plain event of the same thread.
    perf_event_attr holder{};
    holder.size = sizeof holder;
    holder.type = PERF_TYPE_SOFTWARE;
    holder.config = PERF_COUNT_SW_DUMMY;
    holder.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME; // it writes no samples of its own
    holder.sample_id_all = 1;
    holder.use_clockid = 1;
    holder.clockid = CLOCK_MONOTONIC;
    holder.exclude_kernel = exclude_kernel_ ? 1 : 0;
    holder.exclude_hv = 1;
    return holder;
}

perf_event_attr PerfCapture::cpu_clock_attributes() const {
    // The thread clock's sampling settings, for every task on one CPU: cpu-clock ticks at the
    // rate whoever runs there (the program drops the ticks of other processes, and the kernel
    // those of an idle CPU).
    perf_event_attr attr = one_thread_attributes();
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.exclude_idle = 1;
    // Task records of every process on the CPU: no event of the target's own needs to follow
    // its threads (each such event is switched out and in with its thread, about half a
    // microsecond per switch even when it counts nothing). The targets' records are kept.
    attr.task = attr.comm = attr.comm_exec = attr.mmap = attr.mmap2 = 1;
    return attr;
}

void PerfCapture::try_per_cpu_clocks() {
    if (per_cpu_tried_)
        return;
    per_cpu_tried_ = true;
    KernelPythonWalker* walker = filter();
    if (!options_.per_cpu || !walker || options_.off_cpu)
        return;
    if (!in_initial_pid_namespace()) {
        per_cpu_refusal_ = "sampler runs in a PID namespace of its own, and the BPF program sees the "
                           "kernel's process ids, not the ones sampler knows";
        return;
    }
    // The filter first: a clock that ran before it would record other processes' samples.
    if (!walker->sample_only_targets(true)) {
        per_cpu_refusal_ = "cannot set the BPF program's target filter";
        return;
    }
    // A CPU's clock, like a thread's, takes at most the rate's samples a second, whatever runs
    // there: a thread's ring size will do, doubled for a margin; and at least 256 KiB for the
    // task records of a busy machine's processes between two drains.
    const std::size_t pages = std::max<std::size_t>(ring_pages_ * 2, 64);
    const std::size_t smallest = next_power_of_two(
        (4 * (512 + (format_.registers_and_stack ? options_.stack_bytes : 0)) + 4095) / 4096);
    perf_event_attr attr = cpu_clock_attributes();
    if (attr.watermark)
        attr.wakeup_watermark = static_cast<std::uint32_t>(pages * 4096 / 4);
    int error = 0;
    cpu_clocks_ = open_cpu_clocks(attr, pages, smallest, walker->program_fd(), error, per_cpu_refusal_);
    if (cpu_clocks_.empty()) {
        // (An array map's update does not fail for a valid key; if it did, the clocks per thread
        // would keep no sample of a thread the walker knows, and hand back none.)
        walker->sample_only_targets(false);
        return;
    }
    per_cpu_refusal_.clear();
    for (std::size_t i = 0; i < cpu_clocks_.size(); ++i) {
        const auto cpu = static_cast<std::size_t>(cpu_clocks_[i].cpu);
        if (clock_of_cpu_.size() <= cpu)
            clock_of_cpu_.resize(cpu + 1, -1);
        clock_of_cpu_[cpu] = static_cast<int>(i);
    }
    if (options_.follow_children) {
        // A target's child is a target from its fork (when the kernel takes the follower), and
        // its fork's record wakes the reader (bells), who takes it on. Without either, it
        // becomes one at the next drain, and its samples until then are dropped.
        follows_forks_ = options_.kernel_follows_forks && walker->follow_forks();
        std::vector<int> cpus;
        for (const CpuClock& clock : cpu_clocks_)
            cpus.push_back(clock.cpu);
        fork_bells_ = open_fork_bells(cpus, error);
    }
    poll_fds_stale_ = true;
}

bool PerfCapture::open_ring(ThreadEvents& events, int& error) {
    events.ring_holder = PerfEventFile::open(ring_holder_attributes(), events.tid, error);
    if (!events.ring_holder.valid())
        return false;
    for (std::size_t pages = ring_pages_;; pages /= 2) {
        if (events.ring.map(events.ring_holder.fd(), pages, error))
            return true;
        // Over the locked-memory limit (perf_event_mlock_kb): a smaller ring, as long as a
        // few samples still fit.
        if (error != EPERM ||
            pages * 4096 < 4 * (512 + (format_.registers_and_stack ? options_.stack_bytes : 0)))
            return false;
    }
}

bool PerfCapture::open_off_cpu_events(ThreadEvents& events, int& error) {
    events.switch_records = PerfEventFile::open(switch_record_attributes(), events.tid, error);
    if (!events.switch_records.valid())
        return false;
    if (::ioctl(events.switch_records.fd(), PERF_EVENT_IOC_SET_OUTPUT, events.ring_holder.fd()) != 0) {
        error = errno;
        return false;
    }
    if (!format_.registers_and_stack)
        return true;
    events.switches = PerfEventFile::open(switch_attributes(), events.tid, error);
    std::uint64_t id = 0;
    if (!events.switches.valid())
        return false;
    if (::ioctl(events.switches.fd(), PERF_EVENT_IOC_SET_OUTPUT, events.ring_holder.fd()) != 0 ||
        ::ioctl(events.switches.fd(), PERF_EVENT_IOC_ID, &id) != 0) {
        error = errno;
        return false;
    }
    switch_stream_ids_.insert(id);
    return true;
}

bool PerfCapture::open_late_off_cpu_events(int pid, int tid) {
    // A thread created since attaching: its clock samples and task records come inherited into
    // its creator's ring; its switch records (and stack copies at its switches) need events,
    // and a ring, of its own.
    ThreadEvents events;
    events.pid = pid;
    events.tid = tid;
    int error = 0;
    if (!open_ring(events, error) || !open_off_cpu_events(events, error))
        return false;
    by_tid_[tid] = threads_.size();
    threads_.push_back(std::move(events));
    poll_fds_stale_ = true;
    return true;
}

bool PerfCapture::open_thread(int pid, int tid, int& error) {
    ThreadEvents events;
    events.pid = pid;
    events.tid = tid;
    perf_event_attr clock = clock_attributes();
    events.clock = PerfEventFile::open(clock, tid, error);
    if (!events.clock.valid() && (error == EACCES || error == EPERM) && !exclude_kernel_) {
        // Without CAP_PERFMON the kernel allows user-mode sampling only; time in system calls
        // is then not sampled.
        exclude_kernel_ = true;
        clock = clock_attributes();
        events.clock = PerfEventFile::open(clock, tid, error);
    }
    if (!events.clock.valid())
        return false;
    if (!open_ring(events, error))
        return false;
    if (::ioctl(events.clock.fd(), PERF_EVENT_IOC_SET_OUTPUT, events.ring_holder.fd()) != 0) {
        error = errno;
        return false;
    }
    // Refused, the thread's samples stay perf records: read the slower way, never lost.
    if (options_.python_walker)
        ::ioctl(events.clock.fd(), PERF_EVENT_IOC_SET_BPF, options_.python_walker->program_fd());
    if (options_.off_cpu && !open_off_cpu_events(events, error))
        return false;
    by_tid_[tid] = threads_.size();
    threads_.push_back(std::move(events));
    poll_fds_stale_ = true;
    return true;
}

bool PerfCapture::add_process(int pid, PerfUnavailable& why) {
    return add_listed_threads(pid, list_threads(pid), why);
}

bool PerfCapture::add_listed_threads(int pid, const std::vector<int>& tids, PerfUnavailable& why) {
    if (tids.empty()) {
        why = {ESRCH, "the process has no threads left"};
        return false;
    }
    try_per_cpu_clocks();
    if (!cpu_clocks_.empty()) {
        // Every thread it has or will have is sampled by the CPUs' clocks: nothing to open.
        if (!filter()->add_target(pid)) {
            why = {ENOSPC, "the BPF program's map of target processes is full"};
            return false;
        }
        if (!cpu_times_.add(pid)) {
            filter()->forget_target(pid);
            why = {ESRCH, "the process has exited"};
            return false;
        }
        return true;
    }
    std::size_t opened = 0;
    int last_error = 0;
    const auto open_each = [&](const std::vector<int>& listed) {
        for (int tid : listed) {
            if (by_tid_.contains(tid)) {
                ++opened;
                continue;
            }
            int error = 0;
            if (open_thread(pid, tid, error)) {
                ++opened;
            } else if (error != ESRCH) {
                last_error = error;
                if (opened == 0)
                    return; // the first refusal decides: the engine is not available here
            }
        }
    };
    open_each(tids);
    // A thread created after the listing but before its creator's event was opened inherits
    // nothing: without this second look it would never be sampled. One created after the
    // opening inherits the event and is opened here too; drain() counts it once.
    for (int look = 0; look < 4 && opened > 0; ++look) {
        std::vector<int> missed;
        for (int tid : list_threads(pid))
            if (!by_tid_.contains(tid))
                missed.push_back(tid);
        if (missed.empty())
            break;
        open_each(missed);
    }
    if (opened == 0) {
        why = {last_error ? last_error : ESRCH,
               last_error ? refusal_reason(last_error, exclude_kernel_) : "the process's threads exited"};
        return false;
    }
    return true;
}

PerfCapture::ThreadEvents* PerfCapture::with_own_clock(int tid) {
    auto found = by_tid_.find(tid);
    return found != by_tid_.end() && threads_[found->second].clock.valid() ? &threads_[found->second]
                                                                           : nullptr;
}

std::uint64_t PerfCapture::counted_on_cpu_ns(const ThreadEvents& events) const {
    // An inherited copy's time is in its creator's count already.
    return events.also_inherited ? 0 : events.clock.read_count();
}

void PerfCapture::wait(int timeout_ms) {
    if (bells_muted_ && monotonic_ns() - bell_second_ns_ >= 1'000'000'000) {
        bells_muted_ = false;
        poll_fds_stale_ = true;
    }
    if (poll_fds_stale_) {
        poll_fds_.clear();
        for (const ThreadEvents& events : threads_)
            poll_fds_.push_back(
                {events.clock.valid() ? events.clock.fd() : events.ring_holder.fd(), POLLIN, 0});
        for (const CpuClock& clock : cpu_clocks_)
            poll_fds_.push_back({clock.event.fd(), POLLIN, 0});
        if (!bells_muted_)
            for (const ForkBell& bell : fork_bells_)
                poll_fds_.push_back({bell.event.fd(), POLLIN, 0});
        // Last, past the entries that match threads_: the walker's ring, when it fills.
        if (options_.python_walker)
            poll_fds_.push_back({options_.python_walker->wake_fd(), POLLIN, 0});
        poll_fds_stale_ = false;
    }
    if (bells_muted_)
        // Unheard bells: a fork is still taken in within 1/max_bell_wakes of a second, with no
        // more wake-ups than they were allowed.
        timeout_ms = std::min(timeout_ms, static_cast<int>(1000 / max_bell_wakes));
    if (poll_fds_.empty()) {
        ::usleep(static_cast<useconds_t>(timeout_ms) * 1000);
        return;
    }
    if (::poll(poll_fds_.data(), poll_fds_.size(), timeout_ms) <= 0)
        return;
    if (!fork_bells_.empty())
        count_bell_wakes();
    if (options_.python_walker && (poll_fds_.back().revents & POLLIN))
        options_.python_walker->acknowledge_wake(); // before the drain: a wake-up during it counts
    for (std::size_t i = 0; i < threads_.size(); ++i)
        // POLLHUP on the inherited event: its thread ended and so did every thread that
        // inherited it; nothing will write into this ring again.
        if (poll_fds_[i].revents & (POLLHUP | POLLERR | POLLNVAL))
            threads_[i].ended = true;
}

void PerfCapture::count_bell_wakes() {
    if (bells_muted_)
        return;
    if (const std::uint64_t now = monotonic_ns(); now - bell_second_ns_ >= 1'000'000'000) {
        bell_second_ns_ = now;
        bell_wakes_ = 0;
    }
    const std::size_t first = threads_.size() + cpu_clocks_.size();
    const bool rang = std::any_of(poll_fds_.begin() + static_cast<std::ptrdiff_t>(first),
                                  poll_fds_.begin() + static_cast<std::ptrdiff_t>(first + fork_bells_.size()),
                                  [](const pollfd& entry) { return entry.revents != 0; });
    if (!rang)
        return;
    ++bell_wakes_total_;
    if (++bell_wakes_ >= max_bell_wakes) {
        bells_muted_ = true;
        poll_fds_stale_ = true;
    }
}

std::size_t PerfCapture::drain(PerfRecordHandler& handler) {
    std::size_t samples = 0;
    // The walker's records first: they were written before the perf records read below that
    // end or replace their process (exit, exec), which the session acts on at once.
    if (options_.python_walker)
        drain_python_walks(handler, samples);
    for (ThreadEvents& events : threads_) {
        draining_ = &events;
        events.ring.drain([&](const perf_event_header& header) { handle(header, handler, samples); });
    }
    draining_ = nullptr;
    const std::uint64_t lost_before = lost_;
    if (!cpu_clocks_.empty()) {
        // Emptied first: a task record written after this rings again.
        for (ForkBell& bell : fork_bells_)
            bell.ring.drain([](const perf_event_header&) {});
        drain_cpu_clocks(handler, samples);
    }
    // Before the slower work below: setting a period restarts its clock, and the later it is set
    // after the sample that made it due, the more of the period it cuts short goes unsampled.
    redraw_due_periods();
    if (!cpu_clocks_.empty()) {
        // At most once a second: a ring that overflows at every drain (stack copies faster than
        // we read) would otherwise have /proc listed each time.
        unrecovered_loss_ = unrecovered_loss_ || lost_ != lost_before;
        const std::uint64_t now = monotonic_ns();
        if (unrecovered_loss_ && now - recovered_ns_ >= 1'000'000'000) {
            recovered_ns_ = now;
            unrecovered_loss_ = false;
            recover_lost_task_records(handler);
        }
        // A target is forgotten once its process is gone (reaped, or its pid reused), not at its
        // main thread's exit: its other threads may run on, or one of them exec.
        if (follows_forks_ && now - swept_ns_ >= 1'000'000'000) {
            swept_ns_ = now;
            filter()->forget_unclaimed_entries();
        }
        std::erase_if(gone_targets_, [&](const auto& gone) { return now - gone.second > 1'000'000'000; });
        cpu_times_.refresh_now_and_then(now);
        for (int pid : cpu_times_.take_gone()) {
            filter()->forget_target(pid);
            gone_targets_[pid] = now;
        }
    }
    if (!pending_walks_.empty())
        forget_old_walks();
    // Opened after the loop over the rings, which this adds to.
    for (auto [pid, tid] : new_threads_)
        if (!by_tid_.contains(tid))
            open_late_off_cpu_events(pid, tid);
    new_threads_.clear();
    // Close the rings nothing writes into any more (after their last records were read).
    if (std::any_of(threads_.begin(), threads_.end(), [](const ThreadEvents& e) { return e.ended; })) {
        std::vector<ThreadEvents> open;
        open.reserve(threads_.size());
        by_tid_.clear();
        for (ThreadEvents& events : threads_) {
            if (events.ended) {
                closed_on_cpu_ns_ += counted_on_cpu_ns(events);
                continue;
            }
            by_tid_[events.tid] = open.size();
            open.push_back(std::move(events));
        }
        threads_ = std::move(open);
        poll_fds_stale_ = true;
    }
    return samples;
}

void PerfCapture::drain_python_walks(PerfRecordHandler& handler, std::size_t& samples) {
    if (walks_are_halves()) {
        keep_walks(); // the Python halves of samples whose perf records follow
        return;
    }
    options_.python_walker->drain([&](const std::uint8_t* record, std::size_t size) {
        pw_header header{};
        if (size < sizeof header)
            return;
        std::memcpy(&header, record, sizeof header);
        // The period's random steps (see jitter_period_on_time).
        const std::uint32_t key = cpu_clocks_.empty() ? header.tid : header.cpu;
        if (ClockPeriod* period = clock_of_key(key).first)
            count_walked_clock_sample(*period, key, header.time_ns);
        // A child the kernel made a target at its fork whose fork record is not read yet: its
        // walks wait for the CPUs' rings, which hold it.
        const int pid = static_cast<int>(header.pid);
        if (!cpu_clocks_.empty() && waits_for_fork(pid)) {
            keep_waiting(pid, record, size, header.time_ns, -1, false);
            return;
        }
        hand_on_walk(header, record, size, handler, samples);
    });
}

void PerfCapture::hand_on_walk(const pw_header& header, const std::uint8_t* record, std::size_t size,
                               PerfRecordHandler& handler, std::size_t& samples) {
    walked_.pid = static_cast<int>(header.pid);
    walked_.tid = static_cast<int>(header.tid);
    walked_.time_ns = header.time_ns;
    walked_.has_registers = false;
    walked_.off_cpu = false;
    const ClockPeriod* period = clock_of_key(cpu_clocks_.empty() ? header.tid : header.cpu).first;
    walked_.period_ns = period ? period_in_force(*period) : 0;
    walked_.python_walk = record;
    walked_.python_walk_size = size;
    ++samples;
    if (!cpu_clocks_.empty())
        cpu_times_.note_sample(walked_.pid, walked_.time_ns);
    handler.on_sample(walked_);
    walked_.python_walk = nullptr;
    walked_.python_walk_size = 0;
}

bool PerfCapture::waits_for_fork(int pid) const {
    return waiting_pids_.contains(pid) || (!filter()->has_target(pid) && !gone_targets_.contains(pid));
}

void PerfCapture::keep_waiting(int pid, const std::uint8_t* bytes, std::size_t size, std::uint64_t time_ns,
                               int clock, bool held) {
    // Bounded: a machine forking without pause between two drains, or --native's stack copies.
    if (waiting_.size() >= max_waiting_records || waiting_bytes_ + size > max_waiting_bytes) {
        ++dropped_waiting_;
        return;
    }
    waiting_.push_back({time_ns, std::vector<std::uint8_t>(bytes, bytes + size), clock, held});
    waiting_bytes_ += size;
    waiting_pids_.insert(pid);
}

void PerfCapture::hand_on_waiting(PerfRecordHandler& handler, std::size_t& samples) {
    std::vector<WaitingRecord> waiting = std::move(waiting_);
    waiting_.clear();
    waiting_bytes_ = 0;
    waiting_pids_.clear(); // those that wait again are put back
    std::stable_sort(waiting.begin(), waiting.end(),
                     [](const WaitingRecord& a, const WaitingRecord& b) { return a.time_ns < b.time_ns; });
    for (const WaitingRecord& record : waiting) {
        deliver_side_band_until(record.time_ns, handler);
        if (record.clock < 0) {
            pw_header header{};
            std::memcpy(&header, record.bytes.data(), sizeof header);
            const int pid = static_cast<int>(header.pid);
            if (!waits_for_fork(pid))
                hand_on_walk(header, record.bytes.data(), record.bytes.size(), handler, samples);
            else if (!record.held && !stopped_)
                keep_waiting(pid, record.bytes.data(), record.bytes.size(), record.time_ns, -1, true);
            else
                ++dropped_waiting_;
            continue;
        }
        if (static_cast<std::size_t>(record.clock) >= cpu_clocks_.size())
            continue;
        draining_cpu_ = &cpu_clocks_[static_cast<std::size_t>(record.clock)];
        handing_on_ = &record;
        handle(*reinterpret_cast<const perf_event_header*>(record.bytes.data()), handler, samples);
    }
    handing_on_ = nullptr;
    draining_cpu_ = nullptr;
    deliver_side_band_until(UINT64_MAX, handler);
}

void PerfCapture::count_walked_clock_sample(ClockPeriod& period, std::uint32_t key, std::uint64_t time_ns) {
    period.last_sample_ns = std::max(period.last_sample_ns, time_ns);
    // By the samples since the period was set, not a multiple of a count: a clock's samples
    // come both ways (walked, and handed back as perf records), and either may reach it. Half a
    // run will do: the walker's wake-up after a run sets the pace, and the drain it brings also
    // reads the samples taken since, which the next run then lacks (at a full run, a clock
    // would be due only at every other wake-up).
    if (++period.samples - period.samples_at_period >= (redraw_every(options_.rate_hz) + 1) / 2)
        due_redraws_.push_back(key);
}

void PerfCapture::redraw_due_periods() {
    // Once per clock and drain: a drain may hold several runs of a clock's samples (the walker
    // wakes sampler after each run of a CPU's, but a busy sampler drains late), and a period set
    // and replaced within the same drain would cost an IPI to the clock's CPU for nothing.
    if (due_redraws_.empty())
        return;
    std::sort(due_redraws_.begin(), due_redraws_.end());
    due_redraws_.erase(std::unique(due_redraws_.begin(), due_redraws_.end()), due_redraws_.end());
    const std::uint64_t now = monotonic_ns();
    const double mean = 1e9 / options_.rate_hz;
    for (std::uint32_t key : due_redraws_) {
        auto [period, clock] = clock_of_key(key);
        if (!period)
            continue;
        // Setting the period restarts the clock: what it had run of the current one goes
        // unsampled, and the samples fall behind by that much. Counted when the clock's latest
        // sample is less than a period ago (its target presumably on the CPU since); from
        // further back, a tick since went to another task, and how much of the loss was the
        // target's is not known (a target seldom on the CPU loses little).
        const double in_force = period->period_ns > 0 ? period->period_ns : mean;
        if (period->last_sample_ns > 0 && now > period->last_sample_ns &&
            double(now - period->last_sample_ns) < in_force)
            period->samples_ahead -= double(now - period->last_sample_ns) / mean;
        jitter_period_on_time(*period, *clock);
    }
    due_redraws_.clear();
}

void PerfCapture::keep_walks() {
    options_.python_walker->drain([&](const std::uint8_t* record, std::size_t size) {
        pw_header header{};
        if (size >= sizeof header) {
            std::memcpy(&header, record, sizeof header);
            keep_walk(header, record, size);
        }
    });
}

void PerfCapture::keep_walk(const pw_header& header, const std::uint8_t* record, std::size_t size) {
    std::deque<PendingWalk>& walks = pending_walks_[static_cast<int>(header.tid)];
    // A walk waits for its perf record, drained after it: as long as sampler's slowest drain,
    // which can be most of a second (the first --native stacks load a library's DWARF, slower
    // still in the sanitizer build). Older than that, its perf record was lost. The count bound
    // is for memory only: two seconds of one thread's walks at the rate (periods are jittered).
    const auto max_walks = std::max<std::size_t>(1024, static_cast<std::size_t>(2 * options_.rate_hz));
    while (!walks.empty() &&
           (walks.size() >= max_walks || walks.front().time_ns + 1'000'000'000 < header.time_ns)) {
        spare_walk(std::move(walks.front().bytes));
        walks.pop_front();
    }
    PendingWalk walk{header.time_ns, {}};
    if (!spare_walks_.empty()) {
        walk.bytes = std::move(spare_walks_.back());
        spare_walks_.pop_back();
    }
    walk.bytes.assign(record, record + size);
    walks.push_back(std::move(walk));
}

void PerfCapture::spare_walk(std::vector<std::uint8_t>&& bytes) {
    if (bytes.capacity() > 0 && spare_walks_.size() < 256)
        spare_walks_.push_back(std::move(bytes));
}

void PerfCapture::forget_old_walks() {
    // Walks no sample took within a second: their threads ended (an inherited copy's exit
    // record may come before the thread's last samples in its own ring, so not at the exit), or
    // their perf records were lost.
    const std::uint64_t now_ns = monotonic_ns();
    for (auto it = pending_walks_.begin(); it != pending_walks_.end();) {
        if (it->second.empty() || it->second.back().time_ns + 1'000'000'000 < now_ns) {
            for (PendingWalk& walk : it->second)
                spare_walk(std::move(walk.bytes));
            it = pending_walks_.erase(it);
        } else {
            ++it;
        }
    }
}

bool PerfCapture::pair_walk(RawSample& sample) {
    // The program runs in the sample's own overflow, microseconds from the time the perf record
    // carries: after it since Linux 6.3 (the sample is prepared, and timed, before the program
    // runs), before it on older kernels. The thread's other walks are at least a period of its
    // CPU time away. So the sample's walk is the thread's walk nearest its time, within a
    // quarter of the mean period; older ones are of samples drained before them, or lost. A
    // sample whose walk could not finish has none, and is read the slower way.
    const auto window = static_cast<std::uint64_t>(0.25e9 / options_.rate_hz);
    const auto distance = [&](const PendingWalk& walk) {
        return walk.time_ns > sample.time_ns ? walk.time_ns - sample.time_ns : sample.time_ns - walk.time_ns;
    };
    const auto take_nearest = [&]() {
        auto found = pending_walks_.find(sample.tid);
        if (found == pending_walks_.end())
            return false;
        std::deque<PendingWalk>& walks = found->second;
        // Walks too old for this sample are no later sample's either.
        while (!walks.empty() && walks.front().time_ns + window < sample.time_ns) {
            spare_walk(std::move(walks.front().bytes));
            walks.pop_front();
        }
        std::optional<std::size_t> best;
        for (std::size_t i = 0; i < walks.size() && walks[i].time_ns <= sample.time_ns + window; ++i)
            if (!best || distance(walks[i]) < distance(walks[*best]))
                best = i;
        if (best) {
            std::swap(paired_walk_, walks[*best].bytes);
            for (std::size_t i = 0; i <= *best; ++i) {
                spare_walk(std::move(walks.front().bytes));
                walks.pop_front();
            }
        }
        if (walks.empty())
            pending_walks_.erase(found);
        return best.has_value();
    };
    bool paired = take_nearest();
    if (!paired) {
        keep_walks(); // its walk may have been written after the walker's ring was drained
        paired = take_nearest();
    }
    if (paired) {
        sample.python_walk = paired_walk_.data();
        sample.python_walk_size = paired_walk_.size();
    }
    return paired;
}

std::pair<ClockPeriod*, const PerfEventFile*> PerfCapture::clock_of_key(std::uint32_t key) {
    if (!cpu_clocks_.empty()) {
        if (key >= clock_of_cpu_.size() || clock_of_cpu_[key] < 0)
            return {nullptr, nullptr};
        CpuClock& clock = cpu_clocks_[static_cast<std::size_t>(clock_of_cpu_[key])];
        return {&clock.period, &clock.event};
    }
    if (ThreadEvents* events = with_own_clock(static_cast<int>(key)))
        return {&events->period, &events->clock};
    return {nullptr, nullptr};
}

std::uint64_t PerfCapture::period_in_force(const ClockPeriod& period) const {
    const double mean = 1e9 / options_.rate_hz;
    return static_cast<std::uint64_t>(period.period_ns > 0 ? period.period_ns : mean);
}

std::uint64_t PerfCapture::redraw_every(double rate_hz) {
    return static_cast<std::uint64_t>(std::clamp(std::lround(rate_hz / 8), 8L, 64L));
}

void PerfCapture::jitter_period_on_time(ClockPeriod& period, const PerfEventFile& clock) {
    // Walked samples are drained in batches, so a period may hold a few more samples than the
    // run that made it due, and mirrored periods do not quite pair up (when a period lasted a
    // span of time, a drain's, the shorter one gave more samples in its span than the longer
    // one took away: 4-8% too many at 1000 Hz). So every other period is drawn at random,
    // (1 + u) x the mean with u uniform in [-0.5, 0.5], and the one after it makes up for what
    // the periods so far gave beyond (or short of) what their CPU time called for, over its
    // expected run: longer when ahead, shorter when behind (after one random draw, that is its
    // mirror). Counted in samples, as each sample stands for one period of the target's CPU time
    // on that clock: the clock's own count is a CPU's whole time for a clock per CPU (whatever
    // ran there, idle too), and reading it costs an IPI to that CPU.
    const double mean = 1e9 / options_.rate_hz;
    const double hold = double(redraw_every(options_.rate_hz));
    double factor = 0;
    if (period.draw_next)
        factor = 1.0 + std::uniform_real_distribution<double>(-0.5, 0.5)(random_);
    else
        factor =
            std::clamp(1.0 + (period.samples_ahead + excess_of_period_in_force(period)) / hold, 0.5, 1.5);
    period.draw_next = !period.draw_next;
    set_period(period, clock, mean * factor);
}

double PerfCapture::excess_of_period_in_force(const ClockPeriod& period) const {
    if (period.period_ns <= 0)
        return 0; // the mean, set when the clock opened
    const double samples = double(period.samples - period.samples_at_period);
    return samples * (1.0 - period.period_ns * options_.rate_hz / 1e9);
}

void PerfCapture::set_period(ClockPeriod& period, const PerfEventFile& clock, double period_ns) {
    // Samples come both ways with the walker (walked, and handed back as perf records), so
    // both jitter schemes may set a clock's period: each span's excess is counted whichever set it.
    period.samples_ahead += excess_of_period_in_force(period);
    period.period_ns = period_ns;
    period.samples_at_period = period.samples;
    std::uint64_t value = static_cast<std::uint64_t>(std::max(1.0, period_ns));
    ::ioctl(clock.fd(), PERF_EVENT_IOC_PERIOD, &value);
    ++periods_drawn_;
}

void PerfCapture::jitter_period(ClockPeriod& period, const PerfEventFile& clock) {
    // A fixed period can line up with periodic work in the target (a loop that takes as long as
    // the period is always seen at the same point). Every few samples a thread gets a new
    // period, (1 + u) x the mean with u uniform in [-0.5, 0.5], and the next time (1 - u) x the
    // mean: each pair of runs of samples lasts exactly as long as at the mean period, so the
    // rate over a few seconds stays the one asked for (with a new draw every time, its spread
    // was ±9% over 2 s). Setting it restarts the timer, so the part of the current period
    // already run is not counted: see handle() for how much that loses.
    double offset = period.mirrored_offset;
    if (period.draw_next) {
        offset = std::uniform_real_distribution<double>(-0.5, 0.5)(random_);
        period.mirrored_offset = -offset;
    }
    period.draw_next = !period.draw_next;
    set_period(period, clock, 1e9 / options_.rate_hz * (1.0 + offset));
}

void PerfCapture::keep_side_band(const perf_event_header& header) {
    SideBandRecord record;
    record.type = header.type;
    bool decoded = false;
    if (header.type == PERF_RECORD_FORK || header.type == PERF_RECORD_EXIT) {
        decoded = decode_perf_task(header, record.task);
        record.time_ns = record.task.time_ns;
    } else if (header.type == PERF_RECORD_MMAP || header.type == PERF_RECORD_MMAP2 ||
               (header.type == PERF_RECORD_COMM && (header.misc & PERF_RECORD_MISC_COMM_EXEC))) {
        PerfPidTid ids;
        decoded = decode_perf_pid_tid(header, ids) && decode_sample_id_time(header, record.time_ns);
        record.task.pid = record.task.ppid = ids.pid;
        record.task.tid = ids.tid;
    }
    if (!decoded)
        return;
    // A target's records are all kept. Others only while children are followed (one may be a
    // child's whose fork record is not handed on yet, or not read yet), and then bounded: a
    // machine forking and mapping without pause between two drains.
    const KernelPythonWalker& targets = *filter();
    const bool of_target = targets.has_target(record.task.pid) ||
                           (header.type == PERF_RECORD_FORK && targets.has_target(record.task.ppid));
    if (of_target || (options_.follow_children && side_band_.size() < options_.max_side_band_records))
        side_band_.push_back(record);
    else if (options_.follow_children)
        unrecovered_loss_ = true; // maybe a child's fork: found in /proc instead
}

void PerfCapture::drain_cpu_clocks(PerfRecordHandler& handler, std::size_t& samples) {
    // The CPUs' rings merged in time order, as each thread's own ring kept its records: a sample
    // is handed on after every task record written before it on any CPU (a target's fork or
    // exec, a library it mapped) and before those written after it (its process's exit or exec,
    // on another CPU: read first, they had its samples from a CPU read later come after them,
    // dropped or unwound against the new program). Each ring up to where it was when the drain
    // began (the rings' ends are taken back to back); what is written since is read next time.
    struct Next {
        std::uint64_t time_ns = 0;
        std::size_t ring = 0;
    };
    const auto later = [](const Next& a, const Next& b) {
        return a.time_ns > b.time_ns || (a.time_ns == b.time_ns && a.ring > b.ring);
    };
    const std::size_t rings = cpu_clocks_.size();
    std::vector<PerfRing::Cursor> cursors(rings);
    for (std::size_t i = 0; i < rings; ++i)
        cursors[i] = cpu_clocks_[i].ring.cursor();
    std::vector<const perf_event_header*> current(rings, nullptr); // each ring's next record
    std::vector<Next> next;                                        // a heap: the earliest on top
    next.reserve(rings);
    const auto load = [&](std::size_t i) {
        current[i] = cpu_clocks_[i].ring.record(cursors[i]);
        if (!current[i])
            return;
        std::uint64_t time_ns = 0; // too short to say: first, and dropped when decoded
        decode_record_time(*current[i], time_ns);
        next.push_back({time_ns, i});
        std::push_heap(next.begin(), next.end(), later);
    };
    for (std::size_t i = 0; i < rings; ++i)
        load(i);
    while (!next.empty()) {
        std::pop_heap(next.begin(), next.end(), later);
        const std::size_t i = next.back().ring;
        next.pop_back();
        const perf_event_header& header = *current[i];
        draining_cpu_ = &cpu_clocks_[i];
        if (header.type != PERF_RECORD_SAMPLE && header.type != PERF_RECORD_LOST)
            keep_side_band(header); // handed on before the next sample after it
        else
            handle(header, handler, samples);
        cpu_clocks_[i].ring.step(cursors[i], header);
        load(i);
    }
    for (std::size_t i = 0; i < rings; ++i)
        cpu_clocks_[i].ring.consume(cursors[i]);
    draining_cpu_ = nullptr;
    hand_on_waiting(handler, samples);
    // What no target claimed waits one drain: it may be a child's, whose fork record a ring got
    // after its end was taken.
    std::vector<SideBandRecord> unclaimed = std::move(side_band_unclaimed_);
    side_band_ = std::move(unclaimed);
    side_band_unclaimed_.clear();
    side_band_next_ = 0;
}

void PerfCapture::recover_lost_task_records(PerfRecordHandler& handler) {
    if (cpu_clocks_.empty())
        return;
    // A ring drops task records with samples when it is full (--native's stack copies, a machine
    // busy forking): a target's fork lost would leave that child never sampled, an mmap lost its
    // library unsymbolized. (An exec lost is not recovered: rare, and costly to check for.)
    KernelPythonWalker& targets = *filter();
    const std::vector<int> known(targets.targets().begin(), targets.targets().end());
    std::unordered_set<int> listed; // a target found below another: its subtree was listed then
    for (int pid : known) {
        handler.on_new_mapping(pid);
        if (!options_.follow_children || listed.contains(pid))
            continue;
        for (int child : descendants_of(pid)) {
            listed.insert(child);
            if (targets.has_target(child) || !targets.add_target(child))
                continue;
            if (!cpu_times_.add(child)) {
                targets.forget_target(child); // gone already
                continue;
            }
            // Its parent is not known here: `pid` is an ancestor.
            handler.on_task_start(PerfTaskRecord{.pid = child, .ppid = pid, .tid = child, .ptid = pid});
        }
    }
}

void PerfCapture::deliver_side_band_until(std::uint64_t time_ns, PerfRecordHandler& handler) {
    KernelPythonWalker& targets = *filter();
    for (; side_band_next_ < side_band_.size() && side_band_[side_band_next_].time_ns <= time_ns;
         ++side_band_next_) {
        SideBandRecord& record = side_band_[side_band_next_];
        const PerfTaskRecord& task = record.task;
        // The exit of a target found gone before its record was read is still told.
        bool claimed = targets.has_target(task.pid) ||
                       (record.type == PERF_RECORD_EXIT && gone_targets_.contains(task.pid));
        if (record.type == PERF_RECORD_FORK && !claimed && options_.follow_children &&
            task.pid != task.ppid && (targets.has_target(task.ppid) || gone_targets_.contains(task.ppid))) {
            // A child of a target (which may have ended since), followed: the CPUs' clocks
            // sample it from now on (with the fork follower, from its fork), and its CPU time
            // counts from then.
            claimed = targets.add_target(task.pid);
            gone_targets_.erase(task.pid); // its pid, of an earlier target, reused
            if (claimed && !cpu_times_.add(task.pid, follows_forks_)) {
                // Gone already: nothing of it to sample or count. Its fork is still told, and
                // for a second its own children's forks are claimed through it: a double fork's
                // go-between exits (and is reaped) at once, often before its fork record is
                // read, and its child, a target's descendant, is then known from its fork on
                // (whose record may come a drain later, from a ring read before).
                targets.forget_target(task.pid);
                gone_targets_[task.pid] = monotonic_ns();
            }
        }
        if (!claimed) {
            // Maybe of a child whose fork, on a CPU read first, came after this drain read it.
            if (!record.held && side_band_unclaimed_.size() < options_.max_side_band_records) {
                record.held = true;
                side_band_unclaimed_.push_back(record);
            } else if (!record.held) {
                unrecovered_loss_ = true; // as above
            }
            continue;
        }
        switch (record.type) {
        case PERF_RECORD_FORK:
            handler.on_task_start(task);
            break;
        case PERF_RECORD_EXIT:
            handler.on_task_exit(task);
            // Its main thread ended, in practice the process: its time is read while it can be
            // (the target is forgotten once the process is gone: see drain()).
            if (task.tid == task.pid)
                cpu_times_.refresh(task.pid);
            break;
        case PERF_RECORD_COMM:
            handler.on_exec(task.pid);
            break;
        default:
            handler.on_new_mapping(task.pid);
            break;
        }
    }
}

void PerfCapture::handle(const perf_event_header& header, PerfRecordHandler& handler, std::size_t& samples) {
    switch (header.type) {
    case PERF_RECORD_SAMPLE: {
        std::uint64_t stream_id = 0;
        if (decode_perf_sample(header, format_, scratch_, stream_id)) {
            if (draining_cpu_)
                deliver_side_band_until(scratch_.time_ns, handler);
            if (draining_cpu_ && follows_forks_ && waits_for_fork(scratch_.pid)) {
                // Of a child whose fork record came after the rings' ends were taken (or was
                // lost): it waits for the drain's end (see waiting_), once.
                if (!handing_on_ || (!handing_on_->held && !stopped_))
                    keep_waiting(scratch_.pid, reinterpret_cast<const std::uint8_t*>(&header), header.size,
                                 scratch_.time_ns, static_cast<int>(draining_cpu_ - cpu_clocks_.data()),
                                 handing_on_ != nullptr);
                else
                    ++dropped_waiting_;
                break;
            }
            scratch_.off_cpu = !switch_stream_ids_.empty() && switch_stream_ids_.contains(stream_id);
            // A thread with an event of its own that also inherited its creator's (see
            // add_listed_threads): the inherited copy's samples, in another ring, are dropped.
            if (!scratch_.off_cpu && draining_ && scratch_.tid != draining_->tid &&
                with_own_clock(scratch_.tid)) {
                // (Its walk, too: the copy runs the walker as well.)
                if (walks_are_halves() && pair_walk(scratch_)) {
                    scratch_.python_walk = nullptr;
                    scratch_.python_walk_size = 0;
                }
                break;
            }
            samples += !scratch_.off_cpu;
            if (draining_cpu_)
                cpu_times_.note_sample(scratch_.pid, scratch_.time_ns);
            // Before the period is set anew below. (A thread's inherited copy of its creator's
            // clock: taken as the creator's.)
            scratch_.period_ns = scratch_.off_cpu ? 0
                                 : draining_cpu_  ? period_in_force(draining_cpu_->period)
                                 : draining_      ? period_in_force(draining_->period)
                                                  : 0;
            const bool walked = !scratch_.off_cpu && walks_are_halves() && pair_walk(scratch_);
            // A new random period every few samples breaks any alignment with periodic work
            // in the target; not at every sample, as setting it interrupts the thread's CPU
            // (an IPI to it) and costs us a few microseconds: it was 5% of sampler's CPU when
            // done every 8th sample. Woken per sample (Python), it is set before the sample
            // is handled, when the timer has barely restarted, so every 32nd sample loses
            // nothing. Drained in batches, the timer is reset at a random point of its period,
            // and on average half a period is not sampled: so only every 64th sample (a loss
            // under 1%). A fixed period, as perf keeps, was seen to lock onto a 3:1 loop and
            // read it as 70:30.
            // With the walker delivering samples, its scheme rules the clock, whose samples may
            // be either (see jitter_period_on_time): these are ones it handed back.
            const std::uint64_t every = wakes_at_each_sample() ? 32 : 64;
            const bool own = !scratch_.off_cpu && draining_ && scratch_.tid == draining_->tid;
            if (walks_are_samples() && own)
                count_walked_clock_sample(draining_->period, static_cast<std::uint32_t>(draining_->tid),
                                          scratch_.time_ns);
            else if (walks_are_samples() && draining_cpu_)
                count_walked_clock_sample(draining_cpu_->period,
                                          static_cast<std::uint32_t>(draining_cpu_->cpu), scratch_.time_ns);
            else if (own && ++draining_->period.samples % every == 0)
                jitter_period(draining_->period, draining_->clock);
            else if (draining_cpu_ && ++draining_cpu_->period.samples % every == 0)
                jitter_period(draining_cpu_->period, draining_cpu_->event);
            handler.on_sample(scratch_);
            if (walked) {
                scratch_.python_walk = nullptr;
                scratch_.python_walk_size = 0;
            }
        }
        break;
    }
    case PERF_RECORD_SWITCH: {
        PerfSwitchRecord record;
        if (decode_perf_switch(header, record))
            handler.on_switch(record);
        break;
    }
    case PERF_RECORD_FORK: {
        PerfTaskRecord task;
        if (decode_perf_task(header, task)) {
            if (ThreadEvents* own = with_own_clock(task.tid); own && draining_ && draining_ != own)
                own->also_inherited = true;
            if (options_.off_cpu && new_threads_.size() < 4096)
                new_threads_.emplace_back(task.pid, task.tid);
            handler.on_task_start(task);
        }
        break;
    }
    case PERF_RECORD_EXIT: {
        PerfTaskRecord task;
        if (decode_perf_task(header, task))
            handler.on_task_exit(task);
        break;
    }
    case PERF_RECORD_COMM: {
        PerfPidTid ids;
        if ((header.misc & PERF_RECORD_MISC_COMM_EXEC) && decode_perf_pid_tid(header, ids))
            handler.on_exec(ids.pid);
        break;
    }
    case PERF_RECORD_MMAP:
    case PERF_RECORD_MMAP2: {
        PerfPidTid ids;
        if (decode_perf_pid_tid(header, ids))
            handler.on_new_mapping(ids.pid);
        break;
    }
    case PERF_RECORD_LOST: {
        std::uint64_t lost = 0;
        if (decode_perf_lost(header, lost))
            lost_ += lost;
        break;
    }
    default:
        break;
    }
}

void PerfCapture::stop() {
    stopped_ = true;
    for (CpuClock& clock : cpu_clocks_)
        ::ioctl(clock.event.fd(), PERF_EVENT_IOC_DISABLE, 0);
    for (ThreadEvents& events : threads_) {
        ::ioctl(events.clock.fd(), PERF_EVENT_IOC_DISABLE, 0);
        if (events.switches.valid())
            ::ioctl(events.switches.fd(), PERF_EVENT_IOC_DISABLE, 0);
    }
    // The targets run on while the last drain is handled (new stacks' symbols and lines): their
    // time since is not sampled.
    if (!cpu_clocks_.empty()) {
        cpu_times_.refresh();
        on_cpu_at_stop_ns_ = cpu_times_.total_ns();
    }
}

std::uint64_t PerfCapture::on_cpu_nanoseconds() const {
    if (!cpu_clocks_.empty()) {
        if (on_cpu_at_stop_ns_)
            return *on_cpu_at_stop_ns_;
        cpu_times_.refresh();
        return cpu_times_.total_ns();
    }
    std::uint64_t total = closed_on_cpu_ns_;
    for (const ThreadEvents& events : threads_)
        total += counted_on_cpu_ns(events);
    return total;
}

} // namespace sampler

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
            reason += ": the process belongs to another user (needs CAP_PERFMON, or root), or a seccomp "
                      "profile (as in most containers) blocks perf_event_open";
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
    if (options_.wake_per_sample) {
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
    if (poll_fds_stale_) {
        poll_fds_.clear();
        for (const ThreadEvents& events : threads_)
            poll_fds_.push_back(
                {events.clock.valid() ? events.clock.fd() : events.ring_holder.fd(), POLLIN, 0});
        // Last, past the entries that match threads_: the walker's ring, when it fills.
        if (options_.python_walker)
            poll_fds_.push_back({options_.python_walker->wake_fd(), POLLIN, 0});
        poll_fds_stale_ = false;
    }
    if (poll_fds_.empty()) {
        ::usleep(static_cast<useconds_t>(timeout_ms) * 1000);
        return;
    }
    if (::poll(poll_fds_.data(), poll_fds_.size(), timeout_ms) <= 0)
        return;
    if (options_.python_walker && (poll_fds_.back().revents & POLLIN))
        options_.python_walker->acknowledge_wake(); // before the drain: a wake-up during it counts
    for (std::size_t i = 0; i < threads_.size(); ++i)
        // POLLHUP on the inherited event: its thread ended and so did every thread that
        // inherited it; nothing will write into this ring again.
        if (poll_fds_[i].revents & (POLLHUP | POLLERR | POLLNVAL))
            threads_[i].ended = true;
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
        walked_.pid = static_cast<int>(header.pid);
        walked_.tid = static_cast<int>(header.tid);
        walked_.time_ns = header.time_ns;
        walked_.has_registers = false;
        walked_.off_cpu = false;
        walked_.python_walk = record;
        walked_.python_walk_size = size;
        ++samples;
        // The period's random steps, as for perf records drained in batches (see handle()).
        if (ThreadEvents* events = with_own_clock(walked_.tid); events && ++events->samples % 64 == 0)
            jitter_period_on_time(*events);
        handler.on_sample(walked_);
        walked_.python_walk = nullptr;
        walked_.python_walk_size = 0;
    });
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
    // A thread's perf records keep up with its walks (both are drained at each wake-up); more
    // than this waiting are walks whose perf records were lost.
    if (walks.size() >= 64) {
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

void PerfCapture::jitter_period_on_time(ThreadEvents& events) {
    // The walker's samples are drained on a timer, so a period stays in force for a span of
    // time, not for a number of samples, and mirrored periods do not average out: the shorter
    // one gives more samples in its span than the longer one takes away (4-8% too many were
    // seen at 1000 Hz). Instead, each new period makes up for the samples the periods so far
    // gave beyond (or short of) what the thread's CPU time called for: longer when ahead,
    // shorter when behind, by a random amount; either way, at random, when exactly even (the
    // first time: always shorter gave 2% too many over a 5-s run at 100 Hz).
    const double mean = 1e9 / options_.rate_hz;
    const double u = std::uniform_real_distribution<double>(0.0, 0.5)(random_);
    const bool longer =
        events.samples_ahead > 0 || (events.samples_ahead == 0 && std::bernoulli_distribution(0.5)(random_));
    set_period(events, longer ? mean * (1.0 + u) : mean / (1.0 + u));
}

void PerfCapture::set_period(ThreadEvents& events, double period_ns) {
    // With the walker delivering samples (not --native, where every sample is a perf record and
    // only mirrored periods are set), a thread's samples come both ways (walked, and handed back
    // as perf records), so both jitter schemes set its period: each span's excess is counted
    // whichever set it, or jitter_period_on_time would count a mirrored span at the wrong one.
    // (The count is read here, an IPI to the thread's CPU: the program cannot put it in its
    // record, as bpf_perf_prog_read_value refuses inherited events.)
    if (options_.python_walker && !walks_are_halves()) {
        const double mean = 1e9 / options_.rate_hz;
        const std::uint64_t count = events.clock.read_count();
        if (events.period_ns > 0 && count > events.count_at_period)
            events.samples_ahead +=
                double(count - events.count_at_period) * (1.0 / events.period_ns - 1.0 / mean);
        events.period_ns = period_ns;
        events.count_at_period = count;
    }
    std::uint64_t value = static_cast<std::uint64_t>(std::max(1.0, period_ns));
    ::ioctl(events.clock.fd(), PERF_EVENT_IOC_PERIOD, &value);
}

void PerfCapture::jitter_period(ThreadEvents& events) {
    // A fixed period can line up with periodic work in the target (a loop that takes as long as
    // the period is always seen at the same point). Every few samples a thread gets a new
    // period, (1 + u) x the mean with u uniform in [-0.5, 0.5], and the next time (1 - u) x the
    // mean: each pair of runs of samples lasts exactly as long as at the mean period, so the
    // rate over a few seconds stays the one asked for (with a new draw every time, its spread
    // was ±9% over 2 s). Setting it restarts the timer, so the part of the current period
    // already run is not counted: see handle() for how much that loses.
    double offset = events.mirrored_offset;
    if (events.draw_next) {
        offset = std::uniform_real_distribution<double>(-0.5, 0.5)(random_);
        events.mirrored_offset = -offset;
    }
    events.draw_next = !events.draw_next;
    set_period(events, 1e9 / options_.rate_hz * (1.0 + offset));
}

void PerfCapture::handle(const perf_event_header& header, PerfRecordHandler& handler, std::size_t& samples) {
    switch (header.type) {
    case PERF_RECORD_SAMPLE: {
        std::uint64_t stream_id = 0;
        if (decode_perf_sample(header, format_, scratch_, stream_id)) {
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
            if (!scratch_.off_cpu && draining_ && scratch_.tid == draining_->tid &&
                ++draining_->samples % (options_.wake_per_sample ? 32 : 64) == 0)
                jitter_period(*draining_);
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
    for (ThreadEvents& events : threads_) {
        ::ioctl(events.clock.fd(), PERF_EVENT_IOC_DISABLE, 0);
        if (events.switches.valid())
            ::ioctl(events.switches.fd(), PERF_EVENT_IOC_DISABLE, 0);
    }
}

std::uint64_t PerfCapture::on_cpu_nanoseconds() const {
    std::uint64_t total = closed_on_cpu_ns_;
    for (const ThreadEvents& events : threads_)
        total += counted_on_cpu_ns(events);
    return total;
}

} // namespace sampler

#include "process_sampler.hpp"

#include "proc_threads.hpp"
#include "sampler/clock.hpp"
#include "sampler/error.hpp"
#include "stack_merge.hpp"
#include "thread_capture.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <ranges>

namespace sampler {

namespace {

// Memory, maps and files are read through a thread that has not exited: the main thread may
// have ended (pthread_exit) while the others run on, and then has none of them.
int thread_to_read_through(int pid) {
    int tid = live_thread(pid);
    return tid != 0 ? tid : pid;
}

} // namespace

ProcessSampler::ProcessSampler(int pid, const StackOptions& options)
    : pid_(pid), created_ns_(monotonic_ns()), walks_from_ns_(created_ns_),
      reader_tid_(thread_to_read_through(pid)), options_(options), native_(reader_tid_), memory_(reader_tid_),
      filenames_("/proc/" + std::to_string(reader_tid_) + "/root") {
    detect_python();
}

bool ProcessSampler::reader_thread_live() const {
    auto info = read_thread_info(pid_, reader_tid_);
    return info && !info->exited();
}

void ProcessSampler::read_through_another_thread() {
    for (int tid : list_threads(pid_)) {
        if (tid == reader_tid_)
            continue;
        auto info = read_thread_info(pid_, tid);
        if (!info || info->exited())
            continue;
        reader_tid_ = tid;
        memory_.read_through(tid);
        native_.read_through(tid);
        filenames_.set_root("/proc/" + std::to_string(tid) + "/root");
        return;
    }
}

void ProcessSampler::detect_python() {
    last_detection_ = std::chrono::steady_clock::now();
    try {
        python_ = PythonReader::detect(reader_tid_, native_.modules(), memory_);
    } catch (const Error& error) {
        gave_up_detecting_ = true;
        std::fprintf(stderr, "sampler: %s; sampling native stacks only\n", error.what());
    }
    if (python_) {
        interpreter_module_ = path_basename(python_->module_path());
        native_.set_names_only(eval_loop_function_names());
        // The threads it has now are named from their first sample (each a root frame with
        // --threads: read later, their first samples had the OS name, a second root).
        thread_names_.refresh(*python_, memory_, list_threads(pid_));
    }
}

void ProcessSampler::redetect_while_starting() {
    // A program started with `-- COMMAND` (or a freshly forked worker that execs) may not have
    // mapped libpython or set up its runtime yet: look again for a while, 10 ms after the first
    // look, then at twice the wait each time up to 200 ms. An interpreter starts in 10 to 50 ms,
    // and sampler may look at an exec'd child within a millisecond of its exec (woken per
    // sample): at a first retry 200 ms later a child that lives that long was never read as
    // Python. A native program is looked at six times in its first half second, then five a second.
    using namespace std::chrono;
    auto now = steady_clock::now();
    const milliseconds wait = std::min(milliseconds(200), milliseconds(10 << std::min(redetections_, 5u)));
    if (python_ || gave_up_detecting_ || monotonic_ns() - created_ns_ > 10'000'000'000ull ||
        now - last_detection_ < wait)
        return;
    ++redetections_;
    native_.refresh_if_stale(wait); // the libraries it has mapped since
    detect_python();
}

std::vector<SampledStack> ProcessSampler::sample(bool all_threads, SessionReport& report) {
    captured_.clear();
    redetect_while_starting();
    // The thread the process is read through may have ended (a main thread's pthread_exit, or
    // another thread when that one had ended before): read the rest through a live one.
    if (!reader_thread_live())
        read_through_another_thread();
    // Read before any thread is stopped: stopping changes both the OS state and who runs, and
    // the names would lengthen a thread's pause.
    int gil_holder = python_ ? python_->gil_holder_tid(memory_) : 0;
    std::vector<int> tids = list_threads(pid_);
    // Gone (reaped): its last maps stand for what it left (ModuleMap::refresh), so say so here,
    // before its pid can be another process's, whose threads would then be stopped.
    if (tids.empty() && !process_exists(pid_))
        throw Error(ErrorKind::no_such_process, "process " + std::to_string(pid_) + " has exited");
    if (python_)
        thread_names_.refresh(*python_, memory_, tids);
    for (int tid : tids) {
        auto info = read_thread_info(pid_, tid);
        // An exited thread (a main thread that called pthread_exit) has no stack left to read.
        if (!info || info->exited())
            continue;
        info->holds_gil = gil_holder != 0 && gil_holder == tid;
        if (const std::string* name = thread_names_.find(tid))
            info->name = *name;
        if (!all_threads && !options_.include_idle && !info->running())
            continue;
        if (!all_threads && options_.gil_only && python_ && !info->holds_gil)
            continue;
        Captured& slot = captured_.emplace_back();
        slot.info = *info;
        CaptureStatus status = capture(slot, report);
        slot.ok = status == CaptureStatus::ok;
        // A thread we could not read stays listed for `dump` (which says so), not for sampling.
        if (status == CaptureStatus::thread_gone || (!slot.ok && !all_threads))
            captured_.pop_back();
    }
    detach_lingering_threads();

    std::vector<SampledStack> stacks;
    for (Captured& captured : captured_) {
        SampledStack stack = resolve(captured, report);
        if (!stack.frames.empty() || all_threads)
            stacks.push_back(std::move(stack));
    }
    native_.refresh_if_stale();
    return stacks;
}

CaptureStatus ProcessSampler::capture(Captured& slot, SessionReport& report) {
    int tid = slot.info.tid;
    auto read_python_frames = [&] {
        python_pages_.forget(); // the target ran since the last read
        slot.python = python_->read_thread(python_pages_, tid, &report.errors, options_.max_depth);
    };
    if (python_ && options_.nonblocking) {
        if (python_read_hook_)
            python_read_hook_(tid, PythonRead::before);
        read_python_frames();
        if (python_read_hook_)
            python_read_hook_(tid, PythonRead::after);
        return CaptureStatus::ok;
    }
    slot.have_native = !python_ || options_.native;
    CaptureLimits limits = native_.limits_for_capture(slot.have_native ? options_.max_stack_bytes : 0);
    std::function<void()> read_python;
    if (python_)
        read_python = [&] {
            read_python_frames();
            if (python_read_hook_)
                python_read_hook_(tid, PythonRead::stopped);
        };
    CaptureStatus status = capture_thread(tid, limits, slot.snapshot, read_python);
    if (status == CaptureStatus::ok)
        report.pauses.add(slot.snapshot.pause_nanoseconds);
    else if (status != CaptureStatus::thread_gone)
        ++report.errors;
    return status;
}

const std::string& ProcessSampler::thread_comm(int tid) {
    auto found = thread_comms_.find(tid);
    if (found != thread_comms_.end())
        return found->second;
    // Once per thread: the perf engine reads no /proc file per sample.
    std::string name;
    std::ifstream comm("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(tid) + "/comm");
    std::getline(comm, name);
    sampled_tids_.push_back(tid);
    return thread_comms_.emplace(tid, std::move(name)).first->second;
}

std::size_t ProcessSampler::stack_bytes_needed(std::uint64_t stack_pointer) const {
    // The kernel copies up to --max-stack bytes whatever lies above the stack pointer; only the
    // part inside the stack's own mapping can hold frames.
    const MapEntry* mapping = native_.modules().maps().find(stack_pointer);
    if (mapping && mapping->end > stack_pointer)
        return std::min<std::size_t>(mapping->end - stack_pointer, options_.max_stack_bytes);
    return options_.max_stack_bytes;
}

std::uint64_t ProcessSampler::gil_holder_for_samples() {
    if (!python_)
        return 0;
    // For the GIL share, every few milliseconds is plenty; --gil filters on it: every sample.
    auto now = std::chrono::steady_clock::now();
    if (options_.gil_only || now - gil_read_at_ > std::chrono::milliseconds(5)) {
        gil_holder_ = python_->gil_holder_state(memory_);
        gil_read_at_ = now;
    }
    return gil_holder_;
}

bool ProcessSampler::copy_sleeping_thread(int tid, RawSample& out) {
    CaptureLimits limits = native_.limits_for_capture(options_.max_stack_bytes);
    CaptureStatus status = capture_thread(tid, limits, out.snapshot);
    detach_lingering_threads();
    out.pid = pid_;
    out.tid = tid;
    out.has_registers = status == CaptureStatus::ok;
    return out.has_registers;
}

void ProcessSampler::refresh_thread_names() {
    if (python_)
        thread_names_.refresh(*python_, memory_, list_threads(pid_));
}

std::string ProcessSampler::thread_name(int tid) {
    if (const std::string* name = thread_names_.find(tid))
        return *name;
    return thread_comm(tid);
}

void ProcessSampler::between_samples() {
    redetect_while_starting();
    // The thread's exit record switches at once (forget_thread); this is for an exit record
    // lost with a full ring. One /proc read a second.
    if (auto now = std::chrono::steady_clock::now(); now - reader_checked_at_ > std::chrono::seconds(1)) {
        reader_checked_at_ = now;
        if (!reader_thread_live())
            read_through_another_thread();
    }
    if (python_ && !sampled_tids_.empty()) {
        std::erase_if(sampled_tids_, [&](int tid) { return !thread_comms_.contains(tid); });
        thread_names_.refresh(*python_, memory_, sampled_tids_);
    }
}

std::optional<SampledStack> ProcessSampler::sample_from(RawSample& sample, SessionReport& report) {
    native_.refresh_if_changed(std::chrono::milliseconds(100));
    Captured& slot = perf_slot_;
    slot.info = ThreadInfo{};
    slot.info.pid = pid_;
    slot.info.tid = sample.tid;
    slot.info.state = 'R'; // the kernel sampled it on a CPU
    slot.info.name = thread_name(sample.tid);
    slot.ok = true;
    slot.python.reset();
    slot.have_native = sample.has_registers && (!python_ || options_.native);
    if (python_ && sample.python_walk) {
        // Walked by the kernel at the sample: the frames are that instant's, nothing to check
        // (a code object changed since is read again by the walk, from the copy). A walk from
        // before this sampler was made is of the program the process ran before an exec, unless
        // the session knows there was none (accept_walks_from).
        if (sample.time_ns < walks_from_ns_)
            return std::nullopt;
        std::optional<bool> holds_gil;
        slot.python = python_->read_kernel_walk(sample.python_walk, sample.python_walk_size, memory_,
                                                options_.max_depth, &report.errors, &holds_gil);
        if (!slot.python)
            return std::nullopt;
        ++report.kernel_walked_samples;
        if (holds_gil) {
            slot.info.holds_gil = *holds_gil; // read by the walk, at the sample
        } else {
            const std::uint64_t holder = gil_holder_for_samples();
            slot.info.holds_gil = holder != 0 && holder == slot.python->thread_state;
        }
        if (options_.gil_only && !slot.info.holds_gil)
            return dropped(slot);
    } else if (python_) {
        bool consistent = false;
        std::optional<bool> holds_gil;
        if (python_read_hook_)
            python_read_hook_(sample.tid, PythonRead::before);
        slot.python = read_python_checked(sample.tid, report, consistent, holds_gil);
        if (slot.python && !consistent) {
            ++report.torn_python_samples;
            return dropped(slot);
        }
        if (slot.python && python_read_hook_)
            python_read_hook_(sample.tid, PythonRead::after);
        if (slot.python && holds_gil) {
            slot.info.holds_gil = *holds_gil;
        } else if (slot.python) {
            const std::uint64_t holder = gil_holder_for_samples();
            slot.info.holds_gil = holder != 0 && holder == slot.python->thread_state;
        }
        if (options_.gil_only && !slot.info.holds_gil)
            return dropped(slot);
    }
    if (slot.have_native) {
        if (sample.stack_bytes)
            sample.take_stack(stack_bytes_needed(sample.snapshot.registers.rsp));
        std::swap(slot.snapshot, sample.snapshot);
    }
    SampledStack stack = resolve(slot, report);
    return stack;
}

std::nullopt_t ProcessSampler::dropped(Captured& slot) {
    // Not recorded, but its Python frames' buffers serve the next read all the same.
    if (slot.python) {
        python_->recycle(std::move(*slot.python));
        slot.python.reset();
    }
    return std::nullopt;
}

std::optional<pw_layout> ProcessSampler::kernel_walk_layout() const {
    // Samples of on-CPU time alone: --idle reads sleeping threads, and a read hook (--tasks)
    // reads more at the frames' instant; --gil needs the GIL's words, which the walk then reads
    // at the sample. (The session also leaves the walker out for a sink that reads at each
    // sample: reads_at_each_sample.) With --native the walk is the Python half of a sample whose
    // perf record, with the stack copy, follows.
    if (!python_ || options_.no_bpf || options_.include_idle || python_read_hook_)
        return std::nullopt;
    std::optional<pw_layout> layout = python_->kernel_walk_layout(options_.max_depth, &memory_);
    if (layout && options_.gil_only && layout->gil_holder == 0)
        return std::nullopt;
    if (layout && options_.native)
        layout->flags |= PW_KEEP_PERF_RECORD;
    return layout;
}

std::optional<pw_thread> ProcessSampler::kernel_walk_thread(int tid) const {
    return python_ ? python_->kernel_walk_thread(tid) : std::nullopt;
}

std::vector<std::pair<int, pw_thread>> ProcessSampler::kernel_walk_threads() {
    if (!python_)
        return {};
    std::vector<std::pair<int, pw_thread>> threads = python_->kernel_walk_threads(memory_);
    // Only this process's own threads: a child just forked still lists its parent's other
    // threads (by their tids, in its copy of their states) until its interpreter clears them.
    const std::vector<int> own = list_threads(pid_);
    std::erase_if(threads,
                  [&](const auto& thread) { return std::ranges::find(own, thread.first) == own.end(); });
    return threads;
}

std::optional<PythonThread> ProcessSampler::read_python_checked(int tid, SessionReport& report,
                                                                bool& consistent,
                                                                std::optional<bool>& holds_gil) {
    // Each attempt starts from the pages the one before walked, so a stack that changed shape
    // (an event loop switching tasks) is mostly read whole by the next. Three left 0.1-0.4% of
    // asyncio samples torn; six, none in the same runs (and no measurable cost).
    constexpr int attempts = 6;
    consistent = false;
    std::optional<PythonThread> thread;
    std::vector<std::uint64_t>& pages = python_pages_by_tid_[tid];
    for (int attempt = 0; attempt < attempts && !consistent; ++attempt) {
        python_pages_.forget(); // the target ran since the last read
        // One read for the pages this thread's last walk used (most walks then need no more)
        // and, right after them in the same call, the words that check them.
        const std::vector<RemoteMemory::Piece>& check = python_->first_check_pieces(tid);
        const std::size_t check_read = python_pages_.prefetch(pages, check.data(), check.size());
        auto read = python_->read_running_thread(python_pages_, memory_, tid, options_.max_depth,
                                                 &report.errors, check_read);
        if (!read.thread)
            break; // not a Python thread
        consistent = read.consistent;
        if (read.gil_known)
            holds_gil = read.holds_gil;
        if (thread) // an earlier attempt's, superseded: its frames serve the next read
            python_->recycle(std::move(*thread));
        thread = std::move(read.thread);
        pages = python_pages_.used_pages();
    }
    return thread;
}

std::optional<std::vector<Frame>> ProcessSampler::read_python_frames(int tid, SessionReport& report) {
    if (!python_)
        return std::nullopt;
    bool consistent = false;
    std::optional<bool> holds_gil;
    std::optional<PythonThread> thread = read_python_checked(tid, report, consistent, holds_gil);
    if (!thread || !consistent)
        return std::nullopt;
    std::vector<bool> is_entry;
    std::vector<Frame> frames;
    python_frames(*thread, frames, is_entry);
    return frames;
}

std::vector<ModuleRecord> ProcessSampler::module_records() const {
    std::vector<ModuleRecord> records;
    for (const Module& module : native_.modules().modules())
        records.push_back({.path = module.path,
                           .build_id = module.image ? module.image->build_id_hex() : std::string(),
                           .start = module.start,
                           .end = module.end,
                           .bias = module.bias});
    return records;
}

void ProcessSampler::python_frames(const PythonThread& thread, std::vector<Frame>& out,
                                   std::vector<bool>& is_entry) {
    // Assigned into `out`'s Frames where it has them: their strings keep their buffers.
    out.resize(thread.frames.size());
    is_entry.clear();
    for (std::size_t i = 0; i < thread.frames.size(); ++i) {
        const PythonFrame& python = thread.frames[i];
        Frame& frame = out[i];
        frame.kind = FrameKind::python;
        if (python.valid)
            frame.name = python.name;
        else
            frame.name = "<unreadable>";
        frame.file = options_.full_filenames ? python.file : filenames_.shorten(python.file);
        frame.line = options_.function_lines ? python.first_line : python.line;
        frame.function_line = python.first_line;
        is_entry.push_back(python.is_entry);
    }
}

SampledStack ProcessSampler::resolve(Captured& captured, SessionReport& report) {
    SampledStack stack;
    stack.thread = captured.info;
    stack.python = captured.python.has_value();
    stack.captured = captured.ok;
    if (!captured.ok)
        return stack;
    // The stack is built in Frames handed back by the sink (reuse_frames), the Python frames in
    // merge_'s, and the Python thread's frames go back to the reader: once the stacks were seen,
    // a sample allocates nothing per frame.
    MergeInput& merge = merge_;
    // (merge.python is resized, not cleared: its Frames keep their buffers.)
    merge.native.clear();
    merge.python_is_entry.clear();
    if (captured.python) {
        python_frames(*captured.python, merge.python, merge.python_is_entry);
        stack.truncated = captured.python->truncated;
        stack.depth_limit = captured.python->depth_limit;
        python_->recycle(std::move(*captured.python));
        captured.python.reset();
    } else {
        merge.python.clear();
    }
    if (captured.have_native) {
        ResolvedFrames native = native_.resolve_frames(captured.snapshot, options_.max_depth);
        stack.truncated = stack.truncated || native.end != UnwindEnd::complete;
        stack.depth_limit = stack.depth_limit || native.end == UnwindEnd::depth_limit;
        merge.native = std::move(native.frames);
    }
    stack.frames = std::move(spare_frames_);
    spare_frames_.clear();
    if (!python_) {
        auto frames =
            merge.native | std::views::transform([](const Frame* frame) -> const Frame& { return *frame; });
        stack.frames.assign(frames.begin(), frames.end());
    } else if (!captured.have_native) {
        stack.frames.assign(merge.python.begin(), merge.python.end());
    } else {
        merge.interpreter_module = interpreter_module_;
        // The halves did not pair up (the native copy and the Python read disagree, or the
        // unwinding stopped early): the Python half alone, never a mis-merged stack.
        report.merge_mismatches += merge_native_and_python(merge, stack.frames);
    }
    report.truncated += stack.truncated;
    return stack;
}

std::string targets_python_version(const std::vector<int>& pids,
                                   const std::map<int, std::unique_ptr<ProcessSampler>>& processes,
                                   const std::string& current) {
    bool any = false;
    for (int pid : pids)
        if (auto target = processes.find(pid); target != processes.end()) {
            if (target->second->is_python())
                return target->second->python_version();
            any = true;
        }
    return any ? std::string() : current;
}

} // namespace sampler

#pragma once
// Sampling one process: its threads' native stacks and, for CPython, the Python stacks read out
// of the interpreter, merged when --native asks for both.

#include "native_stacks.hpp"
#include "page_cached_memory.hpp"
#include "python_filenames.hpp"
#include "python_reader.hpp"
#include "python_thread_names.hpp"
#include "raw_sample.hpp"
#include "remote_memory.hpp"
#include "sample_sink.hpp"
#include "stack_merge.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sampler {

struct StackOptions {
    bool native = false;         // Python targets: merge native frames in (--native)
    bool nonblocking = false;    // Python targets, ptrace engine: read frames without stopping threads
    bool blocking = false;       // stop each thread for its sample (the ptrace engine): exact Python stacks
    bool include_idle = false;   // also threads that are not running (--idle)
    bool gil_only = false;       // only the thread holding the GIL (--gil)
    bool function_lines = false; // Python frames at their function's first line (--function)
    bool full_filenames = false; // Python file names as they are, not package-relative
    bool no_bpf = false;         // perf engine: never walk Python frames in the kernel (--no-bpf)
    bool per_thread_clocks = false; // perf engine: a sampling clock per thread, not per CPU (--per-thread)
    std::size_t max_stack_bytes = 64 * 1024;
    std::size_t max_depth = 1024;
};

struct SampledStack {
    ThreadInfo thread;
    bool python = false;       // the thread has a Python thread state
    bool captured = true;      // false: the thread could not be stopped or read
    bool truncated = false;    // unwinding or the Python walk stopped before the outermost frame
    bool depth_limit = false;  // ... because it reached the depth limit (--max-depth), not a failure
    std::vector<Frame> frames; // innermost first
};

class ProcessSampler {
  public:
    // Detects CPython in the process. An unsupported CPython is reported on stderr and the
    // process is sampled natively.
    ProcessSampler(int pid, const StackOptions& options);
    // Kernel walks taken from `time_ns` (CLOCK_MONOTONIC) on are of this sampler's program, not
    // only those taken since it was made: a child looked into after its fork, with no exec since.
    void accept_walks_from(std::uint64_t time_ns) { walks_from_ns_ = std::min(walks_from_ns_, time_ns); }

    // One round over the threads the options select (every thread when `all_threads`): each is
    // stopped only for its own copy; unwinding, symbolizing and merging run after.
    std::vector<SampledStack> sample(bool all_threads, SessionReport& report);

    // A sample the perf_event engine took while the thread ran on: its native stack is unwound
    // from the kernel's copy, and its Python frames (for CPython) are read now, checked, and
    // read again when the thread moved on meanwhile. nullopt: nothing to record (not a Python
    // thread in Python-only mode, the --gil filter, or a Python read that stayed torn).
    // `sample`'s stack buffer may be swapped with one of ours: it stays usable.
    std::optional<SampledStack> sample_from(RawSample& sample, SessionReport& report);
    // A thread's Python frames alone, read now while it runs on and checked as sample_from checks
    // them, with no filter (--gil) applied: for watchers of a thread between its samples (the
    // asyncio stall watch). nullopt: not a Python thread, or the read stayed torn.
    std::optional<std::vector<Frame>> read_python_frames(int tid, SessionReport& report);
    // For the kernel's Python walker (perf engine): where this process's interpreter keeps its
    // frames, when its samples can be walked there (Python-only, no --gil, --idle or read hook);
    // and the thread state the last reads found for `tid`.
    std::optional<pw_layout> kernel_walk_layout() const;
    std::optional<pw_thread> kernel_walk_thread(int tid) const;
    // Every thread of this process the interpreter lists now, with its thread state (one scan
    // of the target).
    std::vector<std::pair<int, pw_thread>> kernel_walk_threads();
    // Perf engine bookkeeping: a thread ended; the process mapped new code; a pause between
    // drains (thread names are refreshed there, at most once a second).
    void forget_thread(int tid) {
        thread_comms_.erase(tid);
        python_pages_by_tid_.erase(tid);
        if (tid == reader_tid_)
            read_through_another_thread();
    }
    void note_new_mapping() { native_.note_maps_changed(); }
    // A stack's frames handed back once the sink has them: the next native stack is copied into
    // these Frames, whose strings keep their buffers (no allocation per frame and sample).
    void reuse_frames(std::vector<Frame>&& frames) {
        if (frames.size() > spare_frames_.size())
            spare_frames_ = std::move(frames);
    }
    void between_samples();
    // The name a thread is shown with: its `threading` name for Python, else its OS name.
    std::string thread_name(int tid);
    // Native stacks will be unwound: load the modules' symbols now (see NativeStacks).
    void load_symbols() { native_.load_symbols(); }
    // How much of a stack copy starting at `stack_pointer` can hold frames: up to the end of
    // the stack's mapping, within --max-stack.
    std::size_t stack_bytes_needed(std::uint64_t stack_pointer) const;
    // Copies a sleeping thread's registers and stack once (a ptrace stop), for wall-clock
    // sampling of a thread that has not run since sampling started. False when it could not.
    bool copy_sleeping_thread(int tid, RawSample& out);

    int pid() const { return pid_; }
    // The ELF modules mapped now (by the last refresh), for outputs that describe them.
    std::vector<ModuleRecord> module_records() const;
    bool is_python() const { return python_.has_value(); }
    // See PythonReader::runtime_address; 0 when not Python.
    std::uint64_t python_runtime_address() const { return python_ ? python_->runtime_address() : 0; }
    std::string python_version() const { return python_ ? python_->version() : std::string(); }
    // For readers of more Python state than stacks (asyncio tasks): the interpreter's reader
    // (nullptr when the target is not CPython), the memory it reads, a file name as Python frames
    // show it (package-relative unless --full-filenames), and the threads' `threading` names.
    PythonReader* python_reader() { return python_ ? &*python_ : nullptr; }
    const RemoteMemory& memory() const { return memory_; }
    std::string python_file(const std::string& path) {
        return options_.full_filenames ? path : filenames_.shorten(path);
    }
    void refresh_thread_names();
    // Called with a thread's id around the read of its Python frames, so that a reader of more
    // of the interpreter's state (--tasks: the asyncio task running) reads it at the frames'
    // instant. In a round of sample() the thread is stopped: `stopped`, right after, while it
    // still is. A running thread's read (--nonblocking, and sample_from() on perf_event) is
    // bracketed: `before` and `after` (after a consistent read only), and a change between the
    // two tells the frames may belong to either side of it. It must be quick: a stopped thread
    // waits for it.
    enum class PythonRead { stopped, before, after };
    void set_python_read_hook(std::function<void(int tid, PythonRead moment)> hook) {
        python_read_hook_ = std::move(hook);
    }
    bool has_python_read_hook() const { return static_cast<bool>(python_read_hook_); }

  private:
    struct Captured {
        ThreadInfo info;
        ThreadSnapshot snapshot;
        bool have_native = false;
        bool ok = true;
        std::optional<PythonThread> python;
    };

    void detect_python();
    // The thread the process is read through (reader_tid_) has ended while others run on: its
    // /proc entries and process_vm_readv no longer reach the address space. Read through a live
    // one from now on; none left: the process is gone, and nothing changes.
    void read_through_another_thread();
    bool reader_thread_live() const;
    const std::string& thread_comm(int tid);
    std::uint64_t gil_holder_for_samples();
    void redetect_while_starting();
    CaptureStatus capture(Captured& slot, SessionReport& report);
    SampledStack resolve(Captured& captured, SessionReport& report);
    // sample_from's answer for a sample it does not record (torn, or the --gil filter).
    std::nullopt_t dropped(Captured& slot);
    void python_frames(const PythonThread& thread, std::vector<Frame>& out, std::vector<bool>& is_entry);
    // Reads `tid`'s Python frames while it runs, again while they keep changing (a few times).
    std::optional<PythonThread> read_python_checked(int tid, SessionReport& report, bool& consistent,
                                                    std::optional<bool>& holds_gil);

    int pid_;
    std::uint64_t created_ns_;    // CLOCK_MONOTONIC, when this sampler was made
    std::uint64_t walks_from_ns_; // kernel walks taken before are of an earlier program
    int reader_tid_;              // the thread memory, maps and files are read through (see live_thread)
    std::chrono::steady_clock::time_point reader_checked_at_{}; // perf engine: its last check
    StackOptions options_;
    NativeStacks native_;
    ProcessMemory memory_;
    PageCachedMemory python_pages_{memory_}; // Python frames are read through it during a pause
    std::optional<PythonReader> python_;
    std::string interpreter_module_;
    PythonFilenames filenames_;
    PythonThreadNames thread_names_;
    std::vector<Captured> captured_;
    std::vector<Frame> spare_frames_; // see reuse_frames
    MergeInput merge_;                // resolve()'s Python and native frames, reused from sample to sample
    std::chrono::steady_clock::time_point last_detection_;
    unsigned redetections_ = 0;      // looks again while starting (see redetect_while_starting)
    bool gave_up_detecting_ = false; // an unsupported CPython: said so once
    // Perf engine: each thread's OS name, read once when it is first sampled (the module map is
    // re-read when mappings were added, not on a timer: NativeStacks keeps that hint); the GIL
    // holder, read at most per period.
    std::unordered_map<int, std::string> thread_comms_;
    std::unordered_map<int, std::vector<std::uint64_t>> python_pages_by_tid_; // pages of its last walk
    std::vector<int> sampled_tids_;
    Captured perf_slot_;
    std::uint64_t gil_holder_ = 0; // PyThreadState*
    std::function<void(int tid, PythonRead moment)> python_read_hook_;
    std::chrono::steady_clock::time_point gil_read_at_{};
};

// The CPython version the session reports for its targets (`pids`, in order): the first one
// sampled as Python; empty when those still sampled are not Python; `current` when none is.
std::string targets_python_version(const std::vector<int>& pids,
                                   const std::map<int, std::unique_ptr<ProcessSampler>>& processes,
                                   const std::string& current);

} // namespace sampler

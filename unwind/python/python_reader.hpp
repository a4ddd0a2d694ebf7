#pragma once
// CPython stacks read out of another process's memory, for CPython 2.7 and 3.6-3.13 (3.13+
// layouts come from the `_Py_DebugOffsets` the interpreter publishes, so later patch releases
// need no code change). Works while the target runs or while its threads are stopped: the
// caller decides; nothing here stops threads. Target memory is untrusted: a bad read becomes a
// frame marked invalid or a counted error, never a crash, a hang or an unbounded allocation.
//
//   ModuleMap modules(pid); modules.refresh();
//   ProcessMemory memory(pid);
//   std::string why;
//   auto reader = PythonReader::detect(pid, modules, memory, &why); // nullopt: not CPython
//   std::uint64_t errors = 0;
//   for (const PythonThread& thread : reader->read_threads(memory, &errors)) ...

#include "module_map.hpp"
#include "python_walk_abi.h"
#include "remote_memory.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sampler {

struct PythonFrame {
    std::string name;       // co_qualname (3.11+: "Class.method"), else co_name; "<unreadable>" when !valid
    std::string file;       // co_filename, UTF-8
    std::uint32_t line = 0; // the line executing now; 0 when unknown
    std::uint32_t first_line = 0; // co_firstlineno
    // This frame is the outermost Python frame run by one C-level call of the eval loop
    // (_PyEval_EvalFrameDefault): to merge Python frames into a native stack, each eval-loop
    // native frame corresponds to the run of Python frames ending (outermost) at an entry frame.
    // <= 3.10: every frame. 3.11+: frames entered by a Python-to-Python call are not entries.
    bool is_entry = false;
    bool valid = true; // false: the code object could not be read
};

struct PythonThread {
    std::uint64_t thread_state = 0; // PyThreadState* in the target
    int tid = 0;                    // OS thread id; 0 when it could not be found
    bool holds_gil = false;
    bool truncated = false;   // the walk stopped early (depth limit, cycle, unreadable frame)
    bool depth_limit = false; // ... because it reached the depth limit
    // The chain ended at a generator's frame: a generator's frame loses its link to its
    // caller when it yields, so in a thread that was not stopped this is a read that raced a
    // yield (the frames read while suspended, the top after it resumed), its callers missing.
    bool ends_at_suspended_generator = false;
    std::vector<PythonFrame> frames; // innermost first
    // Not this thread's: frames of an earlier read, handed back (PythonReader::recycle) so the
    // next walk fills them instead of allocating each frame's strings anew.
    std::vector<PythonFrame> spare_frames;
};

// Detection tweaks, for tests of the fallbacks used on stripped binaries.
struct PythonDetectOptions {
    bool use_symbols = true;  // false: ignore .symtab/.dynsym (as if the file were stripped)
    bool use_sections = true; // false: ignore the .PyRuntime section: find the runtime by scanning
};

class PythonReader {
  public:
    static constexpr std::size_t max_depth = 4096;           // frames per thread
    static constexpr std::size_t max_threads = 4096;         // thread states, all interpreters together
    static constexpr std::size_t max_total_frames = 1 << 18; // frames visited by one read_threads

    // Finds CPython in the target: a mapped libpython*.so, or the executable itself for static
    // builds. `modules` must be refreshed. Returns nullopt (with the reason in `why_not`) when the
    // process is not a CPython process; throws sampler::Error (unsupported) for a CPython whose
    // version this reader does not know, naming the version.
    static std::optional<PythonReader> detect(int pid, const ModuleMap& modules, const RemoteMemory& memory,
                                              std::string* why_not = nullptr,
                                              const PythonDetectOptions& options = {});

    PythonReader(PythonReader&&) noexcept;
    PythonReader& operator=(PythonReader&&) noexcept;
    ~PythonReader();

    const std::string& version() const;     // "3.11.7"; "3.9" when only the minor version is known
    const std::string& module_path() const; // the file holding the interpreter
    // Where the interpreter's runtime (&_PyRuntime, or &interp_head before 3.7) lies in the
    // target: with address space randomization, a process that exec'd has it elsewhere.
    std::uint64_t runtime_address() const;

    // Every thread of every interpreter. `errors` (optional) is increased by the number of
    // problems met (unreadable frames or thread states, cycles).
    std::vector<PythonThread> read_threads(const RemoteMemory& memory, std::uint64_t* errors = nullptr);
    // One thread, by OS thread id; nullopt when no thread state has that id. Reads only that
    // thread's frames, at most `max_frames` of them (--max-depth). The thread state found for a
    // tid is remembered, so a round over every thread does not rescan the list for each.
    std::optional<PythonThread> read_thread(const RemoteMemory& memory, int tid,
                                            std::uint64_t* errors = nullptr,
                                            std::size_t max_frames = max_depth);
    // One thread, read while it runs on (no thread is stopped), and checked: the read is
    // `consistent` when the top of its stack (the thread's current frame, its innermost frame and
    // that frame's code), read again straight from `live` right after `snapshot` gave it, is
    // unchanged and the walk then read nothing more from the target (so every frame came from
    // the snapshot, taken while that frame was on top); or else when the same words read after
    // the walk are still the walk's. Either way every code object the walk took from the cache
    // must still be the one decoded. Code objects are therefore not read during the walk once
    // known. `snapshot` serves the walk (a page cache over `live`, emptied by the caller before
    // each attempt and filled with the pages the thread's last walk used: see fetches()). A
    // thread state found once is remembered by tid, so a read does not rescan every thread.
    struct CheckedThread {
        std::optional<PythonThread> thread; // nullopt: no thread state has this tid
        bool consistent = false;
        bool gil_known = false; // read with the first check, so it holds for the same instant
        bool holds_gil = false;
    };
    // `first_check_read`: how many of first_check_pieces(tid) the caller read right after the
    // snapshot's pages, in the same call; when they cover the top the snapshot has, they are the
    // first check, and the target is not read again for it.
    CheckedThread read_running_thread(const RemoteMemory& snapshot, const RemoteMemory& live, int tid,
                                      std::size_t max_frames, std::uint64_t* errors = nullptr,
                                      std::size_t first_check_read = 0);
    // The first check's words where this thread's last read found them (its current-frame
    // pointers, the page holding its innermost frame's code word, the GIL words), for the caller
    // to read with the snapshot: one system call per sample instead of two. The pieces write
    // into this reader; empty when the thread was not read before. Valid until the next call.
    const std::vector<RemoteMemory::Piece>& first_check_pieces(int tid);
    // Walking in the kernel (kernel_walk.cpp; the BPF program in unwind/capture/bpf): where
    // this interpreter's fields lie, for the program to copy each frame's bytes and its code
    // object's identifying bytes at the sample, visiting at most `max_frames` frames (fewer
    // when that many would not fit the program's buffer), and, when `live` lets them be found,
    // where the GIL's words are (else gil_holder is 0). nullopt when its layout lacks a field.
    std::optional<pw_layout> kernel_walk_layout(std::size_t max_frames,
                                                const RemoteMemory* live = nullptr) const;
    // The thread state the last reads found for `tid` (no read now), as the program checks it.
    std::optional<pw_thread> kernel_walk_thread(int tid) const;
    // Every thread state the interpreter lists now, by the OS thread that runs it (one scan
    // of `live`): for the program to walk threads from their first sample on.
    std::vector<std::pair<int, pw_thread>> kernel_walk_threads(const RemoteMemory& live);
    // The thread whose record (a pw_header and its frames, `size` bytes) the program wrote at a
    // sample: walked over the copy, so the stack is the sample's instant; only a code object seen
    // for the first time is read from `live`. nullopt: a record this reader cannot use (not its
    // layout's stride, or cut short). `holds_gil` (optional) is set when the record tells who
    // held the GIL at the sample (PythonThread::holds_gil then says it), else reset.
    std::optional<PythonThread> read_kernel_walk(const std::uint8_t* record, std::size_t size,
                                                 const RemoteMemory& live, std::size_t max_frames,
                                                 std::uint64_t* errors = nullptr,
                                                 std::optional<bool>* holds_gil = nullptr);
    // A thread read_thread or read_running_thread returned, done with: its frames' buffers serve
    // the next read (a sample then allocates nothing per frame once the stacks were seen).
    void recycle(PythonThread&& thread);

    // The OS thread id of the thread holding the main interpreter's GIL; 0 when none does or
    // it cannot be told (2.7/3.6 without the `_PyThreadState_Current` symbol).
    int gil_holder_tid(const RemoteMemory& memory);
    // The PyThreadState* holding the main interpreter's GIL (0: none, or unknown): a few reads,
    // to compare with PythonThread::thread_state without listing the threads.
    std::uint64_t gil_holder_state(const RemoteMemory& memory);
    // OS thread id -> the name Python's `threading` gives the thread, for the threads it knows.
    // Reads dicts that the running target may be changing: call it while the target runs, not
    // during a thread's pause; a torn read leaves threads out rather than naming them wrongly.
    std::unordered_map<int, std::string> thread_names(const RemoteMemory& memory);

    struct Impl; // everything detection found plus caches (python_reader_impl.hpp)
    explicit PythonReader(std::unique_ptr<Impl> impl);
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

} // namespace sampler

#pragma once
// Threads of a process and their state, as /proc shows them. Read without stopping anything.

#include <optional>
#include <string>
#include <vector>

namespace sampler {

struct ThreadInfo {
    int pid = 0; // the process it belongs to
    int tid = 0;
    std::string name;       // /proc/PID/task/TID/comm; for Python, the `threading` name when known
    char state = '?';       // R running, S sleeping, D disk sleep, T stopped, t traced, Z zombie ...
    bool holds_gil = false; // for Python targets: held the GIL when the round started
    // perf_event engine, --idle: the stack it left its CPU with, recorded while it was off it
    // (asleep, or runnable and waiting for a CPU).
    bool off_cpu = false;
    // CLOCK_MONOTONIC nanoseconds when the stack was taken, where the engine knows it (perf_event:
    // the kernel's sample time, which can precede the stack's handling); 0: just now.
    std::uint64_t sampled_ns = 0;
    bool running() const { return state == 'R'; }
    // Ended: a zombie (a main thread after pthread_exit, or a whole process not yet reaped) or dead.
    bool exited() const { return state == 'Z' || state == 'X'; }
    // Whether this sample counts as CPU time: on the perf_event engine the kernel took it on the
    // thread's CPU clock; on the ptrace engine /proc said `R` (which includes waiting for a CPU).
    bool on_cpu() const { return running() && !off_cpu; }
};

// Thread ids of `pid`, ascending; empty when the process is gone.
std::vector<int> list_threads(int pid);
std::optional<ThreadInfo> read_thread_info(int pid, int tid);

// The state letter from the text of a /proc stat file ("123 (name with ) parens) R ...").
char parse_stat_state(const std::string& stat_text);

// Whole-process facts. A process exists while any of its threads has not exited: its main
// thread may have ended (pthread_exit) and be a zombie while the others run on.
bool process_exists(int pid);
char process_state(int pid); // the main thread's; '?' when gone
// A thread through which the whole process can be read (/proc/TID/maps, /proc/TID/root,
// process_vm_readv and ptrace need one that has not exited): `pid` itself unless its main
// thread has ended while others run on; 0 when none is left.
int live_thread(int pid);
std::string process_command_line(int pid); // arguments joined by spaces; empty when unreadable
int process_tracer(int pid);               // TracerPid from /proc/PID/status; 0 when not traced
// The whole text of a small file (/proc); empty when it cannot be read.
std::string read_small_file(const std::string& path);
// Children, grandchildren, ... of `pid`, from /proc/PID/task/TID/children (bounded).
std::vector<int> descendants_of(int pid);

} // namespace sampler

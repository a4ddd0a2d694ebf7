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
    bool running() const { return state == 'R'; }
};

// Thread ids of `pid`, ascending; empty when the process is gone.
std::vector<int> list_threads(int pid);
std::optional<ThreadInfo> read_thread_info(int pid, int tid);

// The state letter from the text of a /proc stat file ("123 (name with ) parens) R ...").
char parse_stat_state(const std::string& stat_text);

// Whole-process facts.
bool process_exists(int pid);
char process_state(int pid);               // '?' when gone
std::string process_command_line(int pid); // arguments joined by spaces; empty when unreadable
int process_tracer(int pid);               // TracerPid from /proc/PID/status; 0 when not traced
// The whole text of a small file (/proc); empty when it cannot be read.
std::string read_small_file(const std::string& path);
// Children, grandchildren, ... of `pid`, from /proc/PID/task/TID/children (bounded).
std::vector<int> descendants_of(int pid);

} // namespace sampler

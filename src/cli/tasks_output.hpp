#pragma once
// What `sampler dump --tasks` prints: the asyncio tasks of a process, per event loop (ordered by
// the thread running it), as text (a tree of who awaits whom, each task with its coroutines,
// innermost first) or JSON (each task with the ids of its awaiters). Pure functions of what was
// read.

#include "asyncio_tasks.hpp"

#include <string>
#include <vector>

namespace sampler {

struct LoopTasks {
    AsyncioLoop loop;        // coroutine file names already as they are to be shown
    std::string thread_name; // empty when no thread runs the loop
    bool stopped = false;    // its thread was stopped while the tasks were read: a consistent view
};

struct TasksDump {
    int pid = 0;
    std::string command_line;
    std::string python_version;
    std::vector<LoopTasks> loops;
    std::string why_none; // when there are no loops, why beyond "no tasks" (may be empty)
};

std::string tasks_text(const TasksDump& dump);
std::string tasks_json(const TasksDump& dump);

// "Task-2" before "Task-10": names compared with their digit runs as numbers.
bool natural_less(const std::string& a, const std::string& b);

} // namespace sampler

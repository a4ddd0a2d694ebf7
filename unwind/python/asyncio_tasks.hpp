#pragma once
// asyncio tasks read out of a CPython 3.8-3.13 process: every task of every event loop (the C
// `_asyncio.Task` and the pure-Python `asyncio.tasks._PyTask`, and subclasses), its name, its
// state, the chain of coroutines it is in (innermost first, with file:line), and who awaits it:
// another task, a `gather`, a TaskGroup. Target memory is untrusted: every set, dict, list and
// chain is bounded and cycle-checked, and an object that does not look right is left out, never
// followed. Nothing here stops threads: the caller does.
//
//   AsyncioTaskReader reader(python);                 // throws Error(unsupported) outside 3.8-3.13
//   for (const AsyncioLoopRef& loop : reader.loops(memory))
//       AsyncioLoop tasks = reader.read_loop(memory, loop); // ideally while loop.tid is stopped
//
// For samplers: running_task() is one dict read per call, task_name() a few reads,
// running_task_named() both plus the coroutine's name, read_task() those plus the task's
// coroutine chain.

#include "python_reader.hpp"
#include "remote_memory.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sampler {

enum class TaskState {
    pending, // waiting on something, or scheduled to run
    running, // the task its loop runs now (asyncio's current task)
    done,    // finished: returned, raised, or cancelled
};

// How a task is awaited by another.
enum class AwaitVia {
    task,       // `await task` (or anything that makes the task wait on it)
    gather,     // the task is one of the children of the gather the other awaits
    task_group, // the task was created in the other's TaskGroup
};

struct TaskAwaiter {
    std::uint64_t task = 0; // the awaiting task (an AsyncioTask::address of the same loop)
    AwaitVia via = AwaitVia::task;
    bool operator==(const TaskAwaiter&) const = default;
};

struct AsyncioTask {
    std::uint64_t address = 0; // the task object: its identity
    std::string name;          // "Task-3", or the name it was given; "<unreadable>" when unknown
    TaskState state = TaskState::pending;
    bool cancelled = false;              // done by cancellation
    bool python_task = false;            // the pure-Python Task (or a subclass), not _asyncio.Task
    std::vector<PythonFrame> coroutines; // innermost first; empty once done
    bool chain_truncated = false;        // the chain was cut: too long, a cycle, unreadable
    std::vector<TaskAwaiter> awaited_by;
};

// The task a loop runs, as a sampler names it.
struct RunningTask {
    std::uint64_t address = 0;
    std::string name = "<unreadable>"; // "Task-3", or the name it was given
    // Its outermost coroutine's qualified name ("client", "Server.handle"): what the task was made
    // to run. Empty when unreadable.
    std::string coroutine;
};

// An event loop that has tasks, and the thread running it.
struct AsyncioLoopRef {
    std::uint64_t loop = 0;   // the loop object
    std::uint64_t interp = 0; // the interpreter it lives in
    // loop._thread_id: the pthread_t of the thread in run_forever(); 0 when the loop is not running.
    std::uint64_t thread_ident = 0;
    int tid = 0; // that thread's OS id; 0 when not running or not found
};

struct AsyncioLoop {
    AsyncioLoopRef ref;
    std::uint64_t running_task = 0; // 0: the loop runs no task now (it waits, or runs a callback)
    std::vector<AsyncioTask> tasks; // in the order the task set holds them
    bool truncated = false;         // not every task could be read (too many, or an unreadable set)
    std::uint64_t errors = 0;       // objects met that could not be read
};

class AsyncioTaskReader {
  public:
    static constexpr std::size_t max_loops = 1024;

    // Throws sampler::Error (unsupported) when the interpreter is not CPython 3.8-3.13.
    explicit AsyncioTaskReader(PythonReader& python);
    AsyncioTaskReader(AsyncioTaskReader&&) noexcept;
    AsyncioTaskReader& operator=(AsyncioTaskReader&&) noexcept;
    ~AsyncioTaskReader();

    // The event loops that have tasks (every registered task's loop), with the thread running
    // each. Empty when there are none; then `why_none` (optional) says why when there is a reason
    // beyond "no tasks" ("asyncio is not imported"). Reads every task: call it while the target runs.
    std::vector<AsyncioLoopRef> loops(const RemoteMemory& memory, std::string* why_none = nullptr);
    // Every task of `loop`, in full. Read it while the loop's thread is stopped: the loop's tasks
    // then hold still (asyncio changes them only on that thread), and the running task's chain is
    // read off that thread's stack.
    AsyncioLoop read_loop(const RemoteMemory& memory, const AsyncioLoopRef& loop);

    // The task `loop` runs now; 0 when none (or unreadable).
    std::uint64_t running_task(const RemoteMemory& memory, const AsyncioLoopRef& loop);
    // One task of `loop` as read_loop() reads it, but without its awaiters (those need every
    // task): its name, state and coroutines. nullopt when `task` is not a task of that loop.
    std::optional<AsyncioTask> read_task(const RemoteMemory& memory, const AsyncioLoopRef& loop,
                                         std::uint64_t task);
    // The task `loop` runs now, with its name and coroutine; nullopt when it runs none. The dict
    // read of running_task() and a few small ones (the task's fields, two strings). Nothing is
    // kept by the task's address: a freed task's memory is reused by the next one.
    std::optional<RunningTask> running_task_named(const RemoteMemory& memory, const AsyncioLoopRef& loop);
    // `task` (an address running_task() gave) with its name and coroutine; with the defaults
    // when its fields cannot be read as a task of `loop`.
    RunningTask task_named(const RemoteMemory& memory, const AsyncioLoopRef& loop, std::uint64_t task);
    // A task's name ("Task-3", or the name given); nullopt when `task` cannot be read as a task of
    // that interpreter.
    std::optional<std::string> task_name(const RemoteMemory& memory, const AsyncioLoopRef& loop,
                                         std::uint64_t task);

    // A count that changes exactly when `loop` takes a callback off its ready queue (loop._ready,
    // a deque) to run it: two reads that give the same count lie inside one run of one callback,
    // or in one wait between callbacks, however alike the stacks look. One read of two words.
    // nullopt when the loop has no such deque (uvloop keeps its queue in compiled code), or it
    // cannot be read.
    std::optional<std::uint64_t> callbacks_started(const RemoteMemory& memory, const AsyncioLoopRef& loop);
    // The names of the loop object's type and of its bases (tp_base), most derived first:
    // {"_UnixSelectorEventLoop", "BaseSelectorEventLoop", ...}; uvloop's is {"Loop",
    // "uvloop.loop.Loop", "object"}: uvloop.Loop is a Python subclass of its compiled loop. Empty
    // when unreadable; at most max_type_depth names.
    static constexpr std::size_t max_type_depth = 16;
    std::vector<std::string> loop_types(const RemoteMemory& memory, const AsyncioLoopRef& loop);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

} // namespace sampler

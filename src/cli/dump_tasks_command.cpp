// `sampler dump --tasks`: the asyncio tasks of a CPython 3.8-3.13 process, per event loop.
#include "commands.hpp"

#include "asyncio_tasks.hpp"
#include "output_file.hpp"
#include "proc_threads.hpp"
#include "process_sampler.hpp"
#include "sampler/error.hpp"
#include "target.hpp"
#include "tasks_output.hpp"
#include "thread_capture.hpp"

#include <chrono>
#include <thread>

namespace sampler {
namespace {

// One loop's tasks. asyncio changes a loop's tasks only on the loop's thread, so stopping that
// thread for the read gives a consistent tree, with the running task's coroutines read off its
// stack; the pause lasts the read (about 0.1 ms per task). A loop that no
// thread runs, or with --nonblocking, is read while everything runs on.
LoopTasks read_loop(AsyncioTaskReader& reader, const RemoteMemory& memory, const AsyncioLoopRef& ref,
                    bool nonblocking) {
    LoopTasks entry;
    // Waited for longer than a sampler does (a thread waiting for a CPU on a busy machine stops
    // only once it gets one), and tried again after a failure: one that stopped too late has been
    // let go by then.
    const CaptureLimits limits{.max_stack_bytes = 0, .maps = nullptr, .stop_wait_nanoseconds = 2'000'000'000};
    constexpr int attempts = 3;
    for (int attempt = 0; attempt < attempts && ref.tid != 0 && !nonblocking && !entry.stopped; ++attempt) {
        if (attempt > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ThreadSnapshot snapshot;
        const CaptureStatus status =
            capture_thread(ref.tid, limits, snapshot, [&] { entry.loop = reader.read_loop(memory, ref); });
        detach_lingering_threads();
        entry.stopped = status == CaptureStatus::ok;
        if (status == CaptureStatus::thread_gone)
            break;
    }
    if (!entry.stopped)
        entry.loop = reader.read_loop(memory, ref);
    return entry;
}

} // namespace

int run_dump_tasks(const DumpOptions& options) {
    const std::vector<int> pids = distinct_pids(options.target.pids);
    if (pids.size() != 1)
        throw Error(ErrorKind::usage, "dump --tasks reads one process: give one --pid");
    const int pid = pids.front();
    check_target(pid,
                 options.target.stacks.nonblocking ? TargetAccess::read_memory : TargetAccess::stop_threads);
    ProcessSampler sampler(pid, options.target.stacks);
    PythonReader* python = sampler.python_reader();
    if (!python)
        throw Error(ErrorKind::unsupported,
                    "process " + std::to_string(pid) + " is not a CPython process: no asyncio tasks to read");
    AsyncioTaskReader reader(*python);
    const RemoteMemory& memory = sampler.memory();

    TasksDump dump;
    dump.pid = pid;
    dump.command_line = process_command_line(pid);
    dump.python_version = sampler.python_version();
    sampler.refresh_thread_names();
    for (const AsyncioLoopRef& ref : reader.loops(memory, &dump.why_none)) {
        LoopTasks entry = read_loop(reader, memory, ref, options.target.stacks.nonblocking);
        if (ref.tid != 0)
            entry.thread_name = sampler.thread_name(ref.tid);
        for (AsyncioTask& task : entry.loop.tasks)
            for (PythonFrame& frame : task.coroutines)
                frame.file = sampler.python_file(frame.file);
        dump.loops.push_back(std::move(entry));
    }
    write_output_file("-", options.json ? tasks_json(dump) : tasks_text(dump));
    return 0;
}

} // namespace sampler

// Test tool: the task each asyncio event loop of a process runs now, read the way a sampler
// would, while the process runs: AsyncioTaskReader's running_task, task_name, read_task and
// running_task_named.
//
//   asyncio_task_probe PID
//
// Output (UTF-8, tab-separated), per loop:
//   loop <tid>	<running task's name, or "-" for none>	<task_name of it, or "-">
//   named	<running_task_named's name>	<its coroutine>      (when it names one)
//   state <running|pending|done>                  (read_task of the running task)
//   frame	<name>	<file>	<line>                  (its coroutines, innermost first)
// Exit status: 0 ok, 1 not a Python process, 2 usage, 3 unsupported or failed.

#include "asyncio_tasks.hpp"
#include "module_map.hpp"
#include "python_reader.hpp"
#include "remote_memory.hpp"
#include "sampler/error.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    const int pid = argc == 2 ? std::atoi(argv[1]) : 0;
    if (pid <= 0) {
        std::fprintf(stderr, "usage: asyncio_task_probe PID\n");
        return 2;
    }
    try {
        sampler::ModuleMap modules(pid);
        modules.refresh();
        sampler::ProcessMemory memory(pid);
        std::string why_not;
        auto python = sampler::PythonReader::detect(pid, modules, memory, &why_not);
        if (!python) {
            std::fprintf(stderr, "not a Python process: %s\n", why_not.c_str());
            return 1;
        }
        sampler::AsyncioTaskReader reader(*python);
        for (const sampler::AsyncioLoopRef& loop : reader.loops(memory)) {
            const std::uint64_t running = reader.running_task(memory, loop);
            auto task = running ? reader.read_task(memory, loop, running) : std::nullopt;
            auto name = running ? reader.task_name(memory, loop, running) : std::nullopt;
            std::printf("loop %d\t%s\t%s\n", loop.tid, task ? task->name.c_str() : "-",
                        name ? name->c_str() : "-");
            if (auto named = reader.running_task_named(memory, loop))
                std::printf("named\t%s\t%s\n", named->name.c_str(), named->coroutine.c_str());
            if (!task)
                continue;
            const char* states[] = {"pending", "running", "done"};
            std::printf("state %s\n", states[static_cast<int>(task->state)]);
            for (const sampler::PythonFrame& frame : task->coroutines)
                std::printf("frame\t%s\t%s\t%u\n", frame.name.c_str(), frame.file.c_str(), frame.line);
        }
        return 0;
    } catch (const sampler::Error& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 3;
    }
}

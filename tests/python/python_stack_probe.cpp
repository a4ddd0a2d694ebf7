// Test tool: prints the Python stacks of a running CPython process, read with sampler_python
// while every thread of the target is stopped (so the stacks are consistent), then lets it go.
//
//   python_stack_probe [--no-symbols] [--no-sections] [--running] PID
//
// Output (UTF-8, tab-separated, innermost frame first):
//   version <X.Y.Z>	<module path>
//   name <tid>	<Python thread name>      (threads `threading` names; read before stopping)
//   gil <tid>
//   thread <tid>	gil <0|1>	truncated <0|1>
//   frame	<name>	<file>	<line>	<first line>	<entry 0|1>	<valid 0|1>
//   errors <count>
// Exit status: 0 ok, 1 not a Python process, 2 usage, 3 unsupported or failed.

#include "python_reader.hpp"

#include "module_map.hpp"
#include "proc_threads.hpp"
#include "remote_memory.hpp"
#include "sampler/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <vector>

namespace {

// Stops every thread of a process (PTRACE_SEIZE + PTRACE_INTERRUPT) for as long as it lives;
// the destructor detaches each, so an early return or exception lets the target run again.
class StoppedProcess {
  public:
    explicit StoppedProcess(int pid) {
        // Threads started while we stop the others are picked up by a second pass.
        for (int pass = 0; pass < 3; ++pass)
            for (int tid : sampler::list_threads(pid))
                if (!is_stopped(tid))
                    stop(tid);
    }
    ~StoppedProcess() {
        for (int tid : stopped_)
            ::ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
    }
    StoppedProcess(const StoppedProcess&) = delete;
    StoppedProcess& operator=(const StoppedProcess&) = delete;

  private:
    bool is_stopped(int tid) const {
        for (int t : stopped_)
            if (t == tid)
                return true;
        return false;
    }
    void stop(int tid) {
        if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0)
            return;
        if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
            ::ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
            return;
        }
        // Signal-delivery stops may come first; re-inject nothing, wait for the interrupt stop.
        for (int attempt = 0; attempt < 16; ++attempt) {
            int status = 0;
            if (::waitpid(tid, &status, __WALL) != tid)
                return; // gone
            if (!WIFSTOPPED(status))
                return;
            if ((status >> 16) == PTRACE_EVENT_STOP) {
                stopped_.push_back(tid);
                return;
            }
            // A signal arrived first: deliver it and keep waiting for our stop.
            ::ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(WSTOPSIG(status))));
        }
        stopped_.push_back(tid);
    }

    std::vector<int> stopped_;
};

int usage() {
    std::fprintf(stderr, "usage: python_stack_probe [--no-symbols] [--no-sections] [--running] PID\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    sampler::PythonDetectOptions options;
    bool stop_threads = true;
    int pid = 0;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--no-symbols")
            options.use_symbols = false;
        else if (arg == "--no-sections")
            options.use_sections = false;
        else if (arg == "--running")
            stop_threads = false;
        else if (!arg.empty() && arg[0] != '-')
            pid = std::atoi(arg.c_str());
        else
            return usage();
    }
    if (pid <= 0)
        return usage();
    try {
        sampler::ModuleMap modules(pid);
        modules.refresh();
        sampler::ProcessMemory memory(pid);
        std::string why_not;
        auto reader = sampler::PythonReader::detect(pid, modules, memory, &why_not, options);
        if (!reader) {
            std::fprintf(stderr, "not a Python process: %s\n", why_not.c_str());
            return 1;
        }
        std::printf("version %s\t%s\n", reader->version().c_str(), reader->module_path().c_str());
        for (const auto& [tid, name] : reader->thread_names(memory))
            std::printf("name %d\t%s\n", tid, name.c_str());
        std::uint64_t errors = 0;
        std::vector<sampler::PythonThread> threads;
        int gil_tid = 0;
        {
            std::optional<StoppedProcess> stopped;
            if (stop_threads)
                stopped.emplace(pid);
            threads = reader->read_threads(memory, &errors);
            gil_tid = reader->gil_holder_tid(memory);
        }
        std::printf("gil %d\n", gil_tid);
        for (const sampler::PythonThread& thread : threads) {
            std::printf("thread %d\tgil %d\ttruncated %d\n", thread.tid, thread.holds_gil ? 1 : 0,
                        thread.truncated ? 1 : 0);
            for (const sampler::PythonFrame& frame : thread.frames)
                std::printf("frame\t%s\t%s\t%u\t%u\t%d\t%d\n", frame.name.c_str(), frame.file.c_str(),
                            frame.line, frame.first_line, frame.is_entry ? 1 : 0, frame.valid ? 1 : 0);
        }
        std::printf("errors %llu\n", static_cast<unsigned long long>(errors));
        return 0;
    } catch (const sampler::Error& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 3;
    }
}

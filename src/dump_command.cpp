#include "commands.hpp"

#include "native_stacks.hpp"
#include "proc_threads.hpp"
#include "target.hpp"
#include "thread_capture.hpp"

#include <cstdio>
#include <iostream>

namespace sampler {
namespace {

const char* state_text(char state) {
    switch (state) {
    case 'R':
        return "running";
    case 'S':
        return "sleeping";
    case 'D':
        return "disk sleep";
    case 'I':
        return "idle";
    case 'T':
        return "stopped";
    case 't':
        return "traced";
    case 'Z':
        return "zombie";
    default:
        return "unknown";
    }
}

} // namespace

int run_dump(const DumpOptions& options) {
    int pid = options.target.pid;
    check_target(pid);
    NativeStacks native(pid);
    CaptureLimits limits = native.limits_for_capture(options.target.max_stack_bytes);

    // Capture every thread first (each stopped only for its own copy), then resolve.
    struct Captured {
        ThreadInfo info;
        ThreadSnapshot snapshot;
        CaptureStatus status;
    };
    std::vector<Captured> threads;
    for (int tid : list_threads(pid)) {
        auto info = read_thread_info(pid, tid);
        if (!info)
            continue;
        Captured captured{*info, {}, CaptureStatus::ok};
        captured.status = capture_thread(tid, limits, captured.snapshot);
        threads.push_back(std::move(captured));
    }
    detach_lingering_threads();

    std::cout << "Process " << pid << ": " << process_command_line(pid) << "\n";
    for (const Captured& thread : threads) {
        if (thread.status == CaptureStatus::thread_gone)
            continue;
        std::cout << "\nThread " << thread.info.tid << " (" << thread.info.name << ") ["
                  << state_text(thread.info.state) << "]\n";
        if (thread.status != CaptureStatus::ok) {
            std::cout << "    (could not stop this thread to read its stack)\n";
            continue;
        }
        ResolvedStack stack = native.resolve(thread.snapshot, options.target.max_depth);
        for (const Frame& frame : stack.frames)
            std::cout << "    " << dump_label(frame) << "\n";
        if (stack.end == UnwindEnd::truncated)
            std::cout << "    ... (unwinding stopped here)\n";
        else if (stack.end == UnwindEnd::depth_limit)
            std::cout << "    ... (depth limit reached)\n";
    }
    return 0;
}

} // namespace sampler

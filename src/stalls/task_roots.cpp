#include "task_roots.hpp"

#include "profile_builder.hpp"

#include <chrono>
#include <cstdio>

namespace sampler {

TaskRoots::TaskRoots(SampleSink& inner, AsyncioProcesses& processes) : inner_(inner), processes_(processes) {
    processes_.add_notes({.unsupported = [](int pid, const std::string& why) {
        std::fprintf(stderr,
                     "sampler: --tasks: process %d gets no task roots (it is recorded as usual): %s\n", pid,
                     why.c_str());
    }});
}

void TaskRoots::add_sampled_stack(ProcessSampler& process, const ThreadInfo& thread,
                                  const std::vector<Frame>& innermost_first) {
    LoopThreads* loops =
        innermost_first.empty() ? nullptr : processes_.loops_for(process, std::chrono::steady_clock::now());
    const AsyncioLoopRef* loop = loops ? loops->loop_of(thread.tid) : nullptr;
    if (!loop) {
        inner_.add_sampled_stack(process, thread, innermost_first);
        return;
    }
    if (!process.has_after_python_read())
        process.set_after_python_read([this, &process](int tid) { read_while_stopped(process, tid); });
    std::optional<RunningTask> task;
    if (auto read = read_at_stop_.extract({thread.pid, thread.tid}))
        task = std::move(read.mapped());
    else
        task = loops->running_task(*loop);
    rooted_.assign(innermost_first.begin(), innermost_first.end());
    if (task) {
        rooted_.push_back(task_root_frame(task->name, task->coroutine));
        ++task_stacks_;
    } else {
        rooted_.push_back(no_task_root_frame());
        ++no_task_stacks_;
    }
    inner_.add_sampled_stack(process, thread, rooted_);
}

void TaskRoots::read_while_stopped(ProcessSampler& process, int tid) {
    // The loops as last listed: listing them reads every task, not for a stopped thread.
    LoopThreads* loops = processes_.listed_loops(process);
    if (const AsyncioLoopRef* loop = loops ? loops->loop_of(tid) : nullptr)
        read_at_stop_[{process.pid(), tid}] = loops->running_task(*loop);
}

} // namespace sampler

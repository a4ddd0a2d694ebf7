#include "task_roots.hpp"

#include "profile_builder.hpp"

#include <chrono>
#include <cstdio>

namespace sampler {

bool frames_run_coroutine(const std::vector<Frame>& innermost_first, const std::string& qualified) {
    if (qualified.empty())
        return false;
    const std::size_t dot = qualified.rfind('.');
    const std::string last = dot == std::string::npos ? qualified : qualified.substr(dot + 1);
    for (const Frame& frame : innermost_first)
        if (frame.kind == FrameKind::python && (frame.name == qualified || frame.name == last))
            return true;
    return false;
}

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
    if (!process.has_python_read_hook())
        process.set_python_read_hook([this, &process](int tid, ProcessSampler::PythonRead moment) {
            on_python_read(process, tid, moment);
        });
    std::optional<RunningTask> task;
    if (auto read = read_around_.extract({thread.pid, thread.tid})) {
        const ReadAround& around = read.mapped();
        if (around.before && *around.before != around.after)
            task = side_of_switch(*loops, *loop, around, innermost_first);
        else if (around.after != 0)
            task = loops->task_named(*loop, around.after);
    } else {
        task = loops->running_task(*loop); // the first stack, before the hook was set
    }
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

std::optional<RunningTask> TaskRoots::side_of_switch(LoopThreads& loops, const AsyncioLoopRef& loop,
                                                     const ReadAround& read,
                                                     const std::vector<Frame>& innermost_first) {
    auto named = [&](std::uint64_t address) {
        return address != 0 ? std::optional(loops.task_named(loop, address)) : std::nullopt;
    };
    std::optional<RunningTask> after = named(read.after);
    if (after && frames_run_coroutine(innermost_first, after->coroutine))
        return after;
    std::optional<RunningTask> before = named(*read.before);
    if (before && frames_run_coroutine(innermost_first, before->coroutine))
        return before;
    // Neither task's coroutine runs: the loop's own code or a plain callback, outside any task.
    if (!after || !before)
        return std::nullopt;
    return after;
}

void TaskRoots::on_python_read(ProcessSampler& process, int tid, ProcessSampler::PythonRead moment) {
    // The loops as last listed: listing them reads every task, not for a stopped thread nor
    // between a sample's frames and its task. Only the task's address is read here (one dict
    // lookup); its name and coroutine once the stack is handed over, after the thread runs on.
    LoopThreads* loops = processes_.listed_loops(process);
    const AsyncioLoopRef* loop = loops ? loops->loop_of(tid) : nullptr;
    if (!loop)
        return;
    ReadAround& around = read_around_[{process.pid(), tid}];
    switch (moment) {
    case ProcessSampler::PythonRead::stopped:
        around = ReadAround{.before = std::nullopt, .after = loops->running_task_address(*loop)};
        break;
    case ProcessSampler::PythonRead::before:
        around = ReadAround{.before = loops->running_task_address(*loop), .after = 0};
        break;
    case ProcessSampler::PythonRead::after:
        around.after = loops->running_task_address(*loop);
        break;
    }
}

} // namespace sampler

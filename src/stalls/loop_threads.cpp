#include "loop_threads.hpp"

#include "sampler/error.hpp"

#include <algorithm>

namespace sampler {
namespace {

PythonReader& python_of(ProcessSampler& process) {
    if (PythonReader* reader = process.python_reader())
        return *reader;
    throw Error(ErrorKind::unsupported, "process " + std::to_string(process.pid()) + " is not CPython");
}

} // namespace

LoopThreads::LoopThreads(ProcessSampler& process) : process_(&process), reader_(python_of(process)) {}

bool LoopThreads::refresh_if_stale(std::chrono::steady_clock::time_point now) {
    if (listed_at_ != std::chrono::steady_clock::time_point() && now - listed_at_ < std::chrono::seconds(1))
        return false;
    listed_at_ = now;
    const RemoteMemory& memory = process_->memory();
    loops_ = reader_.loops(memory);
    by_tid_.clear();
    for (std::size_t i = 0; i < loops_.size(); ++i) {
        if (loops_[i].tid != 0)
            by_tid_.emplace(loops_[i].tid, i);
        // uvloop.Loop, the type uvloop's policy makes, is a Python subclass named "Loop" of the
        // compiled "uvloop.loop.Loop": its bases tell.
        if (std::ranges::any_of(reader_.loop_types(memory, loops_[i]),
                                [](const std::string& type) { return type.starts_with("uvloop."); }))
            uvloop_seen_ = true;
    }
    return true;
}

const AsyncioLoopRef* LoopThreads::loop_of(int tid) const {
    auto found = by_tid_.find(tid);
    return found == by_tid_.end() ? nullptr : &loops_[found->second];
}

std::optional<std::uint64_t> LoopThreads::callbacks_started(const AsyncioLoopRef& loop) {
    return reader_.callbacks_started(process_->memory(), loop);
}

std::string LoopThreads::running_task_name(const AsyncioLoopRef& loop) {
    const RemoteMemory& memory = process_->memory();
    const std::uint64_t task = reader_.running_task(memory, loop);
    if (task == 0)
        return {};
    return reader_.task_name(memory, loop, task).value_or("");
}

std::optional<RunningTask> LoopThreads::running_task(const AsyncioLoopRef& loop) {
    return reader_.running_task_named(process_->memory(), loop);
}

std::uint64_t LoopThreads::running_task_address(const AsyncioLoopRef& loop) {
    return reader_.running_task(process_->memory(), loop);
}

RunningTask LoopThreads::task_named(const AsyncioLoopRef& loop, std::uint64_t address) {
    return reader_.task_named(process_->memory(), loop, address);
}

} // namespace sampler

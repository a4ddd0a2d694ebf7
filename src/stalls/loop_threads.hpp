#pragma once
// The asyncio event loops of one sampled process and the threads running them, listed again at
// most once a second (a listing reads every task), with what a stall watch reads per look at a
// loop thread: the loop's count of callbacks started, and the running task's name.

#include "asyncio_tasks.hpp"
#include "process_sampler.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sampler {

class LoopThreads {
  public:
    // Throws sampler::Error (unsupported) when the process's CPython has no readable asyncio.
    explicit LoopThreads(ProcessSampler& process);

    // Lists the loops again when the last listing is a second old; true when it did.
    bool refresh_if_stale(std::chrono::steady_clock::time_point now);
    // The loop `tid` runs; nullptr when it runs none (that we know of).
    const AsyncioLoopRef* loop_of(int tid) const;
    const std::vector<AsyncioLoopRef>& loops() const { return loops_; }
    std::optional<std::uint64_t> callbacks_started(const AsyncioLoopRef& loop);
    // The running task's name; empty when the loop runs no task (or it cannot be read). Not
    // cached: a task's memory is reused by the next one.
    std::string running_task_name(const AsyncioLoopRef& loop);
    // The running task with its name and coroutine; nullopt when the loop runs none. Not cached
    // either.
    std::optional<RunningTask> running_task(const AsyncioLoopRef& loop);
    // Only the running task's address (0: none), one dict read: to tell whether the loop switched
    // tasks between two moments.
    std::uint64_t running_task_address(const AsyncioLoopRef& loop);
    // The task at `address` (from running_task_address) with its name and coroutine.
    RunningTask task_named(const AsyncioLoopRef& loop, std::uint64_t address);
    // The loops seen so far that are uvloop's (their callbacks cannot be told apart).
    bool uvloop_seen() const { return uvloop_seen_; }
    const ProcessSampler* process() const { return process_; }

  private:
    ProcessSampler* process_;
    AsyncioTaskReader reader_;
    std::vector<AsyncioLoopRef> loops_;
    std::unordered_map<int, std::size_t> by_tid_; // tid -> index in loops_
    std::chrono::steady_clock::time_point listed_at_{};
    bool uvloop_seen_ = false;
};

} // namespace sampler

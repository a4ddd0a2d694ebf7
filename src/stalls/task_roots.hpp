#pragma once
// `--tasks`: the stacks of an asyncio event loop's thread get a root frame naming the task that
// ran, `task NAME (COROUTINE)`, or `loop (no task)` while the loop ran none (a plain callback,
// the loop's own code, its wait), so a flame graph splits the loop's time by task. The running
// task is read at the instant the stack was: on the ptrace engine while the thread is stopped,
// right after its Python frames (a task switch between the two would otherwise name the wrong
// task); on the perf_event engine, which reads the Python frames of a running thread as it
// hands the sample over, right after them. So this sink sits right after the engine, before
// --asyncio's stall watch (which may hand stacks on later, when the process can no longer be
// read for them). Stacks of other threads, and of processes whose asyncio cannot be read, pass
// unchanged. Per stack of a loop thread: the running-task dict and a few small reads; nothing is
// kept by a task's address.

#include "asyncio_processes.hpp"
#include "sample_sink.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace sampler {

class TaskRoots final : public SampleSink {
  public:
    TaskRoots(SampleSink& inner, AsyncioProcesses& processes);

    void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) override {
        inner_.add_stack(thread, innermost_first);
    }
    void add_sampled_stack(ProcessSampler& process, const ThreadInfo& thread,
                           const std::vector<Frame>& innermost_first) override;
    bool end_of_round(const SessionReport& report) override { return inner_.end_of_round(report); }
    void add_modules(const std::vector<ModuleRecord>& modules) override { inner_.add_modules(modules); }
    bool wants_periods() const override { return inner_.wants_periods(); }
    void on_period(std::uint64_t now_ns, const ProcessSamplers& processes) override {
        inner_.on_period(now_ns, processes);
    }

    // Stacks of loop threads given a root: while a task ran, and while none did.
    std::uint64_t task_stacks() const { return task_stacks_; }
    std::uint64_t no_task_stacks() const { return no_task_stacks_; }

  private:
    // While the thread is stopped: the task its loop runs, for its stack to come.
    void read_while_stopped(ProcessSampler& process, int tid);

    SampleSink& inner_;
    AsyncioProcesses& processes_;
    std::vector<Frame> rooted_; // reused: the stack and its root
    // (pid, tid) -> the running task read during the thread's stop (nullopt: none ran), until its
    // stack is handed over; loop threads only, overwritten at each stop.
    std::map<std::pair<int, int>, std::optional<RunningTask>> read_at_stop_;
    std::uint64_t task_stacks_ = 0;
    std::uint64_t no_task_stacks_ = 0;
};

} // namespace sampler

#pragma once
// `--tasks`: the stacks of an asyncio event loop's thread get a root frame naming the task that
// ran, `task NAME (COROUTINE)`, or `loop (no task)` while the loop ran none (a plain callback,
// the loop's own code, its wait), so a flame graph splits the loop's time by task.
//
// The running task is read at the instant the Python frames were (ProcessSampler's read hook):
// on the ptrace engine while the thread is stopped, right after its frames; where the thread
// runs on (the perf_event engine, --nonblocking), just before and just after them. When the two
// differ the loop switched tasks during the read, and the task whose coroutine the frames run is
// named (the frames were read on its side of the switch). So this sink sits right after the
// engine, before --asyncio's stall watch (which may hand stacks on later, when the process can
// no longer be read for them). Stacks of other threads, and of processes whose asyncio cannot be
// read, pass unchanged. Per stack of a loop thread: the running-task dict read twice (only
// that while a thread is stopped) and, after, a few small reads for the task's name and
// coroutine; nothing is kept by a task's address.

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
    bool reads_at_each_sample() const override { return true; }
    int longest_quiet_ms() const override { return inner_.longest_quiet_ms(); }
    bool shows_kept_live() const override { return inner_.shows_kept_live(); }
    void on_period(std::uint64_t now_ns, const ProcessSamplers& processes, PeriodSampling sampling) override {
        inner_.on_period(now_ns, processes, sampling);
    }

    // Stacks of loop threads given a root: while a task ran, and while none did.
    std::uint64_t task_stacks() const { return task_stacks_; }
    std::uint64_t no_task_stacks() const { return no_task_stacks_; }

  private:
    // The running task's address (0: none ran) read around one read of a thread's frames,
    // until its stack is handed over.
    struct ReadAround {
        std::optional<std::uint64_t> before; // unset when not bracketed (the thread was stopped)
        std::uint64_t after = 0;
    };
    void on_python_read(ProcessSampler& process, int tid, ProcessSampler::PythonRead moment);
    // Which side of a switch the frames were read on: the task whose coroutine they run.
    std::optional<RunningTask> side_of_switch(LoopThreads& loops, const AsyncioLoopRef& loop,
                                              const ReadAround& read,
                                              const std::vector<Frame>& innermost_first);

    SampleSink& inner_;
    AsyncioProcesses& processes_;
    std::vector<Frame> rooted_; // reused: the stack and its root
    // (pid, tid) -> what was read around the thread's last frames; loop threads only.
    std::map<std::pair<int, int>, ReadAround> read_around_;
    std::uint64_t task_stacks_ = 0;
    std::uint64_t no_task_stacks_ = 0;
};

// Whether `innermost_first` runs coroutine `qualified` ("Worker.crunch"): a frame named so, or
// by its last part ("crunch": CPython before 3.11 names frames by co_name).
bool frames_run_coroutine(const std::vector<Frame>& innermost_first, const std::string& qualified);

} // namespace sampler

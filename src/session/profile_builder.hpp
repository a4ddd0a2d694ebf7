#pragma once
// Adds resolved stacks to a Profile. Native frames are aggregated by function (the source line
// stays in `dump`), so one hot function is one box in a flame graph, as perf users expect.
// Roots, outermost first: the process (several targets), the task (a FrameKind::task frame a sink
// before this one put outermost in the stack: --tasks), the thread (--threads). Tasks come
// before threads: a task may run on any thread, and its time is what is asked about.

#include "proc_threads.hpp"
#include "sample_sink.hpp"
#include "sampler/profile.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace sampler {

struct AggregationOptions {
    bool thread_roots = false;    // --threads: a `thread TID (name)` root per thread
    bool process_roots = false;   // --subprocesses: a `process PID (command line)` root per process
    bool record_timeline = false; // keep every sample in time order (speedscope, chrometrace)
    // Fill Profile::thread_stacks and inlined_into_parent, which only pprof writes; off, a long
    // recording's memory grows with the tree alone.
    bool pprof_details = false;
};

// The part of a frame that identifies it in an aggregated profile.
Frame aggregation_key(const Frame& frame);
// The same by reference (valid while `frame` is).
FrameRef aggregation_key_ref(const Frame& frame);

Frame thread_root_frame(const ThreadInfo& thread);
Frame process_root_frame(int pid, const std::string& command_line);
// --tasks: `task NAME (COROUTINE)` (`task NAME` when the coroutine is unknown), and the root of a
// loop thread's stacks while its loop runs no task.
Frame task_root_frame(const std::string& task, const std::string& coroutine);
Frame no_task_root_frame();

class ProfileBuilder : public SampleSink {
  public:
    ProfileBuilder(Profile& profile, AggregationOptions options)
        : profile_(profile), options_(options), start_(std::chrono::steady_clock::now()), last_(start_) {}
    void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) override;
    void add_modules(const std::vector<ModuleRecord>& modules) override;

  protected:
    // Separate so tests can feed stacks at chosen times.
    void add_stack_at(const ThreadInfo& thread, const std::vector<Frame>& innermost_first,
                      std::chrono::steady_clock::time_point when);

  private:
    Profile& profile_;
    AggregationOptions options_;
    std::vector<FrameId> scratch_;
    // Per thread (by index in Profile::threads): its last stack's frames and nodes, so the next
    // one walks the tree only below the part they share.
    struct LastStack {
        std::vector<FrameId> frames;
        std::vector<CallTree::NodeId> path;
    };
    std::vector<LastStack> last_stacks_;
    std::vector<bool> inlined_marked_;     // by node: already in Profile::inlined_into_parent
    std::map<int, FrameId> process_roots_; // by PID
    std::map<std::pair<int, int>, std::uint32_t> thread_index_; // (pid, tid) -> Profile::threads
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_; // of the previous timeline sample

    std::uint32_t thread_index(const ThreadInfo& thread);
    // Its entry in Profile::processes; the command line is read when it is first seen.
    ProcessRecord& process_record(int pid);
};

} // namespace sampler

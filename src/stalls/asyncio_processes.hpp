#pragma once
// The asyncio event loops of every sampled process, for the sinks that read them (--asyncio's
// stall watch, --tasks' task roots), which share one so each process's loops are listed once: a
// LoopThreads per CPython 3.8-3.13 process, made when the process is first met as Python and
// again after it exec'd. A process not (yet) known as Python is looked at again on its next
// sample: a command just launched is recognised only once its interpreter is up.

#include "loop_threads.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sampler {

// What the sinks sharing the loops tell the user; each is called once per program.
struct AsyncioNotes {
    // A Python process whose asyncio cannot be read (not CPython 3.8-3.13): why.
    std::function<void(int pid, const std::string& why)> unsupported{};
    // A process found running uvloop, whose loop runs in compiled code.
    std::function<void(int pid)> uvloop{};
};

class AsyncioProcesses {
  public:
    // Adds who is told (each sink sharing the loops adds its own).
    void add_notes(AsyncioNotes notes) { notes_.push_back(std::move(notes)); }

    // The loops of `process`, listed again when the last listing is a second old; nullptr when
    // it is not (yet) a Python process whose asyncio can be read.
    LoopThreads* loops_for(ProcessSampler& process, std::chrono::steady_clock::time_point now);
    // The loops of `process` as last listed, without listing them (nothing is made or read): for
    // a look while one of its threads is stopped. nullptr when there are none yet.
    LoopThreads* listed_loops(const ProcessSampler& process);
    // Whether a running loop with a known thread has been seen in any process.
    bool loop_threads_seen() const { return loop_threads_seen_; }
    // Whether any process listed runs uvloop.
    bool uvloop_seen() const;

  private:
    std::vector<AsyncioNotes> notes_;
    std::map<int, std::unique_ptr<LoopThreads>> loops_; // by pid
    std::map<int, const ProcessSampler*> unsupported_;  // pid -> the sampler found unsupported
    bool loop_threads_seen_ = false;
};

} // namespace sampler

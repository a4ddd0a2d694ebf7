#pragma once
// The sampling loop of `record`: every tick, stop each thread just long enough to copy its
// registers and stack, then unwind, symbolize and aggregate while it runs on.

#include "process_sampler.hpp"
#include "sample_sink.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace sampler {

// Which capture engine takes the samples.
enum class CaptureChoice {
    automatic, // perf_event, falling back to ptrace (said once on stderr) when it is refused
    perf,      // perf_event only: an error when the kernel refuses it
    ptrace,    // stop each thread for its copy (exact Python stacks; wall-clock --idle)
};

struct SessionOptions {
    // The processes to sample (--pid A,B,C), each a root as with --subprocesses; the first is
    // the main target, whose CPython version is reported. The session ends when all have ended.
    std::vector<int> pids;
    bool target_is_child = false; // started by us (then the only one): reap it when it exits
    double rate_hz = 100;
    double duration_seconds = 0; // 0: until Ctrl-C or the target exits
    bool subprocesses = false;   // also sample descendant processes, as they come and go
    StackOptions stacks;
    CaptureChoice capture = CaptureChoice::automatic;
    // Called once when sampling has begun: the target is attached and the symbols loaded (which
    // can take seconds on a large program), so from then on its work is being sampled.
    std::function<void()> on_started{};

    int main_pid() const { return pids.empty() ? 0 : pids.front(); }
};

// Whether these options need the ptrace engine (--capture ptrace, --idle, --blocking).
bool wants_ptrace_engine(const SessionOptions& options);

// Samples until a stop signal, the duration, the target's exit, or the sink says stop.
SessionReport run_sampling_session(const SessionOptions& options, SampleSink& sink);

// For a command the session started (target_is_child): whether it has exited, its wait status
// then in report.exit_status. Looks `attempts` times, 10 ms apart: its end seen in /proc or in a
// perf record can come a moment before it is reapable.
bool launched_command_ended(const SessionOptions& options, SessionReport& report, int attempts);

} // namespace sampler

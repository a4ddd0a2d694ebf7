#pragma once
// The sampling loop of `record`: every tick, stop each thread just long enough to copy its
// registers and stack, then unwind, symbolize and aggregate while it runs on.

#include "process_sampler.hpp"
#include "sample_sink.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sampler {

struct SessionOptions {
    int pid = 0;
    bool target_is_child = false; // started by us: reap it when it exits
    double rate_hz = 100;
    double duration_seconds = 0; // 0: until Ctrl-C or the target exits
    bool subprocesses = false;   // also sample descendant processes, as they come and go
    StackOptions stacks;
};

// Samples until a stop signal, the duration, the target's exit, or the sink says stop.
SessionReport run_sampling_session(const SessionOptions& options, SampleSink& sink);

} // namespace sampler

#pragma once
// One sample as a capture engine delivers it: which thread, when, and (when native frames are
// wanted) its registers and the top of its stack. The ptrace engine fills it by stopping the
// thread; the perf_event engine gets it from the kernel, which copied it in the thread's own
// context at the timer tick. Everything downstream (unwinding, Python frames, symbolizing)
// works from this and never needs the thread to be stopped.

#include "thread_snapshot.hpp"

#include <cstdint>

namespace sampler {

struct RawSample {
    int pid = 0;
    int tid = 0;
    std::uint64_t time_ns = 0;   // CLOCK_MONOTONIC
    bool has_registers = false;  // false: only "this thread was on a CPU" (Python-only sampling)
    // Taken as the thread left its CPU (to sleep, wait, or because it was preempted), not by the
    // clock: the stack it will have while off the CPU, for wall-clock (--idle) sampling.
    bool off_cpu = false;
    ThreadSnapshot snapshot;     // registers and stack copy when has_registers
};

} // namespace sampler

#pragma once
// One sample as a capture engine delivers it: which thread, when, and (when native frames are
// wanted) its registers and the top of its stack. The ptrace engine fills it by stopping the
// thread; the perf_event engine gets it from the kernel, which copied it in the thread's own
// context at the timer tick. Everything downstream (unwinding, Python frames, symbolizing)
// works from this and never needs the thread to be stopped.

#include "thread_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sampler {

struct RawSample {
    int pid = 0;
    int tid = 0;
    std::uint64_t time_ns = 0;  // CLOCK_MONOTONIC
    bool has_registers = false; // false: only "this thread was on a CPU" (Python-only sampling)
    // Taken as the thread left its CPU (to sleep, wait, or because it was preempted), not by the
    // clock: the stack it will have while off the CPU, for wall-clock (--idle) sampling.
    bool off_cpu = false;
    // The period of the clock that took it, in nanoseconds (0: none, or not known): it ticked
    // that long before too, so the sample stands for that span of the thread's time on its CPU.
    std::uint64_t period_ns = 0;
    ThreadSnapshot snapshot; // registers (and stack_start) when has_registers
    // The kernel's copy of the stack, from the stack pointer up, where it lies in the ring:
    // valid only during the handler's on_sample. Whoever keeps the sample copies what it needs
    // into snapshot.stack (take_stack), usually far less than the kernel copied.
    const std::uint8_t* stack_bytes = nullptr;
    std::size_t stack_size = 0;
    // The thread's Python frames as the kernel walked them at the sample (a record of the BPF
    // walker: see kernel_python_walker.hpp), where it lies in that ring: valid during the
    // handler's on_sample only. Null for a perf record.
    const std::uint8_t* python_walk = nullptr;
    std::size_t python_walk_size = 0;
    // A kept sample's own copy of its walk (keep_python_walk): python_walk points into it.
    std::vector<std::uint8_t> kept_walk;

    // Copies at most `limit` bytes of the ring's stack copy into snapshot.stack.
    void take_stack(std::size_t limit) {
        std::size_t size = stack_size < limit ? stack_size : limit;
        snapshot.stack.assign(stack_bytes, stack_bytes + size);
        stack_bytes = nullptr;
        stack_size = 0;
    }

    // Copies the walk into kept_walk, for a sample kept past the handler's on_sample.
    void keep_python_walk() {
        kept_walk.assign(python_walk, python_walk + python_walk_size);
        python_walk = kept_walk.data();
    }
};

} // namespace sampler

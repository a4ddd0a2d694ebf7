#pragma once
// What we copy out of a stopped thread: its registers and the top of its stack. Everything else
// (unwinding, symbolizing, aggregating) runs on this copy after the thread runs again.

#include <cstdint>
#include <sys/user.h>
#include <vector>

namespace sampler {

struct ThreadSnapshot {
    int tid = 0;
    user_regs_struct registers{};
    std::uint64_t stack_start = 0;       // target address of stack[0] (the stack pointer)
    std::vector<std::uint8_t> stack;     // copied bytes from the stack pointer upwards
    std::uint64_t pause_nanoseconds = 0; // how long the thread was stopped
};

} // namespace sampler

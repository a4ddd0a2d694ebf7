#pragma once
// A snapshot of the calling thread, taken as a capture engine takes a target's: registers as they
// are just after own_thread_snapshot's getcontext, and the stack from the stack pointer up (at
// most 256 KiB) copied by the kernel. Unit tests unwind it against the known chain of calls that
// led to it, with no ptrace and no other process.

#include "thread_snapshot.hpp"

#include <algorithm>
#include <string>
#include <vector>

// Its name is the innermost frame of the snapshot (never inlined, not in a namespace).
extern "C" void own_thread_snapshot(sampler::ThreadSnapshot& out);

namespace sampler::testing {

// Whether `names` (a stack's function names) holds `expected` in that order, others between.
inline bool contains_in_order(const std::vector<std::string>& names,
                              const std::vector<std::string>& expected) {
    auto at = names.begin();
    for (const std::string& name : expected) {
        at = std::find(at, names.end(), name);
        if (at == names.end())
            return false;
        ++at;
    }
    return true;
}

} // namespace sampler::testing

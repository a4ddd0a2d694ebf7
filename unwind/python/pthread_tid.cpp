#include "pthread_tid.hpp"

namespace sampler::python {

bool looks_like_pthread(const RemoteMemory& memory, std::uint64_t pthread, const PthreadLayout& layout) {
    if (pthread == 0 || (pthread & 7) != 0 || pthread >= (std::uint64_t{1} << 47))
        return false;
    std::uint64_t tcb = 0, self = 0;
    return memory.read_value(pthread + static_cast<std::uint64_t>(layout.tcb), tcb) &&
           memory.read_value(pthread + static_cast<std::uint64_t>(layout.self), self) && tcb == pthread &&
           self == pthread;
}

int tid_from_pthread(const RemoteMemory& memory, std::uint64_t pthread, const PthreadLayout& layout) {
    std::int32_t tid = 0;
    if (!looks_like_pthread(memory, pthread, layout) ||
        !memory.read_value(pthread + static_cast<std::uint64_t>(layout.tid), tid))
        return 0;
    // pid_max is at most 2^22 on Linux.
    return tid > 0 && tid <= (1 << 22) ? tid : 0;
}

} // namespace sampler::python

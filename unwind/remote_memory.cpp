#include "remote_memory.hpp"

#include <sys/uio.h>

namespace sampler {

bool ProcessMemory::read(std::uint64_t address, void* out, std::size_t size) const {
    if (size == 0)
        return true;
    iovec local{out, size};
    iovec remote{reinterpret_cast<void*>(address), size};
    return ::process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

} // namespace sampler

#include "remote_memory.hpp"

#include <algorithm>
#include <sys/uio.h>

namespace sampler {

bool ProcessMemory::read(std::uint64_t address, void* out, std::size_t size) const {
    if (size == 0)
        return true;
    iovec local{out, size};
    iovec remote{reinterpret_cast<void*>(address), size};
    return ::process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

std::size_t ProcessMemory::read_blocks(const std::uint64_t* addresses, std::size_t count, std::uint8_t* out,
                                       std::size_t size) const {
    constexpr std::size_t max_blocks = 64; // well under IOV_MAX
    std::size_t done = 0;
    while (done < count) {
        const std::size_t batch = std::min(count - done, max_blocks);
        iovec local[max_blocks];
        iovec remote[max_blocks];
        for (std::size_t i = 0; i < batch; ++i) {
            local[i] = {out + (done + i) * size, size};
            remote[i] = {reinterpret_cast<void*>(addresses[done + i]), size};
        }
        ssize_t copied = ::process_vm_readv(pid_, local, batch, remote, batch, 0);
        // A partial read stops at the first block that could not be read whole.
        std::size_t whole = copied > 0 ? static_cast<std::size_t>(copied) / size : 0;
        done += whole;
        if (whole < batch)
            break;
    }
    return done;
}

} // namespace sampler

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

std::size_t RemoteMemory::read_blocks(const std::uint64_t* addresses, std::size_t count, std::uint8_t* out,
                                      std::size_t size) const {
    constexpr std::size_t batch = 64;
    std::size_t done = 0;
    while (done < count) {
        Piece pieces[batch];
        const std::size_t n = std::min(count - done, batch);
        for (std::size_t i = 0; i < n; ++i)
            pieces[i] = {addresses[done + i], out + (done + i) * size, size};
        const std::size_t read = read_scattered(pieces, n);
        done += read;
        if (read < n)
            break;
    }
    return done;
}

std::size_t ProcessMemory::read_scattered(const Piece* pieces, std::size_t count) const {
    constexpr std::size_t max_pieces = 64; // well under IOV_MAX
    std::size_t done = 0;
    while (done < count) {
        const std::size_t batch = std::min(count - done, max_pieces);
        iovec local[max_pieces];
        iovec remote[max_pieces];
        for (std::size_t i = 0; i < batch; ++i) {
            const Piece& piece = pieces[done + i];
            local[i] = {piece.out, piece.size};
            remote[i] = {reinterpret_cast<void*>(piece.address), piece.size};
        }
        const ssize_t copied = ::process_vm_readv(pid_, local, batch, remote, batch, 0);
        // A partial read stops at the first piece that could not be read whole.
        std::size_t left = copied > 0 ? static_cast<std::size_t>(copied) : 0;
        std::size_t whole = 0;
        while (whole < batch && left >= pieces[done + whole].size)
            left -= pieces[done + whole++].size;
        done += whole;
        if (whole < batch)
            break;
    }
    return done;
}

} // namespace sampler

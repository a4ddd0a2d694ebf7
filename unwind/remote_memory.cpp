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

namespace {

constexpr std::uint64_t page_size = RemoteMemory::page_size;

std::uint64_t page_of(std::uint64_t address) {
    return address & ~(page_size - 1);
}

} // namespace

std::size_t ProcessMemory::read_scattered(const Piece* pieces, std::size_t count) const {
    // The kernel pins the target's pages once per remote iovec, whatever its length: pieces that
    // follow one another in the same or the next page (two words of one struct, code objects
    // allocated side by side, a frame's pages) go in one remote iovec, the bytes between them
    // into a scratch buffer. No page is read that the pieces themselves would not read.
    constexpr std::size_t max_pieces = 64; // well under IOV_MAX, even with a gap before each
    thread_local std::uint8_t gap_bytes[2 * page_size];
    std::size_t done = 0;
    while (done < count) {
        const std::size_t batch = std::min(count - done, max_pieces);
        iovec local[2 * max_pieces];
        iovec remote[max_pieces];
        std::size_t gaps[max_pieces]; // gaps[i]: bytes skipped before piece i, 0 if it starts an iovec
        std::size_t locals = 0;
        std::size_t remotes = 0;
        std::uint64_t end = 0; // of the last remote iovec
        for (std::size_t i = 0; i < batch; ++i) {
            const Piece& piece = pieces[done + i];
            gaps[i] = 0;
            const bool joins = remotes > 0 && piece.size > 0 && piece.address >= end &&
                               page_of(piece.address) <= page_of(end - 1) + page_size &&
                               piece.address - end <= sizeof gap_bytes;
            if (joins) {
                gaps[i] = piece.address - end;
                if (gaps[i] > 0)
                    local[locals++] = {gap_bytes, gaps[i]};
                remote[remotes - 1].iov_len += gaps[i] + piece.size;
            } else {
                remote[remotes++] = {reinterpret_cast<void*>(piece.address), piece.size};
            }
            local[locals++] = {piece.out, piece.size};
            end = piece.address + piece.size;
        }
        const ssize_t copied = ::process_vm_readv(pid_, local, locals, remote, remotes, 0);
        // A partial read stops at the first piece that could not be read whole.
        std::size_t left = copied > 0 ? static_cast<std::size_t>(copied) : 0;
        std::size_t whole = 0;
        while (whole < batch && left >= gaps[whole] + pieces[done + whole].size) {
            left -= gaps[whole] + pieces[done + whole].size;
            ++whole;
        }
        done += whole;
        if (whole < batch)
            break;
    }
    return done;
}

} // namespace sampler

#include "kernel_copy_memory.hpp"

#include <cstring>

namespace sampler::python {

bool KernelCopyMemory::read(std::uint64_t address, void* out, std::size_t size) const {
    const std::size_t count = pieces_.size();
    for (std::size_t step = 0; step < count; ++step) {
        const std::size_t index = (hint_ + step) % count;
        const Piece& piece = pieces_[index];
        if (address >= piece.address && size <= piece.size && address - piece.address <= piece.size - size) {
            std::memcpy(out, piece.bytes + (address - piece.address), size);
            hint_ = index;
            return true;
        }
    }
    ++live_reads_;
    return live_ && live_->read(address, out, size);
}

} // namespace sampler::python

#pragma once
// A thread's Python frames as the kernel copied them at its sample (unwind/capture's BPF
// walker), seen as target memory: a read that lies inside a copied piece is served from the
// copy, so the frame walker and the code cache read the sample's instant exactly as they read a
// live process. What the kernel did not copy (the strings and line table of a code object seen
// for the first time, which do not change while it lives) is read from the target, and counted.

#include "python_walk_abi.h"
#include "remote_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sampler::python {

class KernelCopyMemory final : public RemoteMemory {
  public:
    // Starts over with no pieces, reading what is not copied from `live`.
    void reset(const RemoteMemory& live) {
        live_ = &live;
        pieces_.clear();
        hint_ = 0;
        live_reads_ = 0;
    }
    // `size` bytes that were at `address` at the sample; they must outlive the reads.
    void add(std::uint64_t address, const std::uint8_t* bytes, std::size_t size) {
        pieces_.push_back({address, bytes, size});
    }

    bool read(std::uint64_t address, void* out, std::size_t size) const override;
    // How many reads went to the target (the code objects not seen before).
    std::size_t live_reads() const { return live_reads_; }

  private:
    struct Piece {
        std::uint64_t address;
        const std::uint8_t* bytes;
        std::size_t size;
    };
    const RemoteMemory* live_ = nullptr;
    std::vector<Piece> pieces_;
    mutable std::size_t hint_ = 0; // the walk reads the pieces mostly in order
    mutable std::size_t live_reads_ = 0;
};

} // namespace sampler::python

#pragma once
// Reading another process's memory, behind an interface so readers of interpreter state can be
// tested on synthetic memory images and fed garbage. Target memory is untrusted: every read may
// fail, and every value read may be nonsense.

#include <cstddef>
#include <cstdint>
#include <optional>

namespace sampler {

class RemoteMemory {
  public:
    static constexpr std::size_t page_size = 4096; // the target's (x86-64)

    virtual ~RemoteMemory() = default;
    // Copies `size` bytes at target address `address`; false when any of them cannot be read.
    virtual bool read(std::uint64_t address, void* out, std::size_t size) const = 0;

    template <typename T> bool read_value(std::uint64_t address, T& out) const {
        return read(address, &out, sizeof out);
    }

    // One piece of a scattered read: `size` bytes at target `address` into `out`.
    struct Piece {
        std::uint64_t address;
        void* out;
        std::size_t size;
    };
    // Reads the pieces in order, stopping at the first that cannot be read whole, and returns how
    // many were read. One call for many pieces where the memory allows it (a live process: one
    // system call), which is what makes a consistent multi-word check cheap.
    virtual std::size_t read_scattered(const Piece* pieces, std::size_t count) const {
        std::size_t done = 0;
        while (done < count && read(pieces[done].address, pieces[done].out, pieces[done].size))
            ++done;
        return done;
    }

    // For a snapshot of the target (a cache of pages): how many times it has read the target so
    // far, so a reader can tell whether a walk was served by what it held. nullopt for memory
    // that reads the target on every call, or does not count.
    virtual std::optional<std::uint64_t> fetches() const { return std::nullopt; }
    // read_scattered for `count` blocks of `size` bytes, block i from `addresses[i]` into
    // out + i * size.
    std::size_t read_blocks(const std::uint64_t* addresses, std::size_t count, std::uint8_t* out,
                            std::size_t size) const;
};

// The memory of a live process, read with process_vm_readv.
class ProcessMemory final : public RemoteMemory {
  public:
    explicit ProcessMemory(int pid) : pid_(pid) {}
    bool read(std::uint64_t address, void* out, std::size_t size) const override;
    std::size_t read_scattered(const Piece* pieces, std::size_t count) const override;
    int pid() const { return pid_; }
    // Reads go through thread `tid` of the same process from now on (the one read through ended).
    void read_through(int tid) { pid_ = tid; }

  private:
    int pid_;
};

} // namespace sampler

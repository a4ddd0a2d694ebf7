#pragma once
// Reading another process's memory, behind an interface so readers of interpreter state can be
// tested on synthetic memory images and fed garbage. Target memory is untrusted: every read may
// fail, and every value read may be nonsense.

#include <cstddef>
#include <cstdint>

namespace sampler {

class RemoteMemory {
  public:
    virtual ~RemoteMemory() = default;
    // Copies `size` bytes at target address `address`; false when any of them cannot be read.
    virtual bool read(std::uint64_t address, void* out, std::size_t size) const = 0;

    template <typename T> bool read_value(std::uint64_t address, T& out) const {
        return read(address, &out, sizeof out);
    }

    // Reads `count` blocks of `size` bytes, block i from `addresses[i]` into out + i * size,
    // in order, stopping at the first that cannot be read. Returns how many were read. One call
    // for many blocks where the memory allows it (a live process: one system call).
    virtual std::size_t read_blocks(const std::uint64_t* addresses, std::size_t count, std::uint8_t* out,
                                    std::size_t size) const {
        std::size_t done = 0;
        while (done < count && read(addresses[done], out + done * size, size))
            ++done;
        return done;
    }
};

// The memory of a live process, read with process_vm_readv.
class ProcessMemory final : public RemoteMemory {
  public:
    explicit ProcessMemory(int pid) : pid_(pid) {}
    bool read(std::uint64_t address, void* out, std::size_t size) const override;
    std::size_t read_blocks(const std::uint64_t* addresses, std::size_t count, std::uint8_t* out,
                            std::size_t size) const override;
    int pid() const { return pid_; }

  private:
    int pid_;
};

} // namespace sampler

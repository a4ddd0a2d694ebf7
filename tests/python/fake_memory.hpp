#pragma once
// Synthetic target memory for the Python reader's unit tests: byte ranges at chosen addresses;
// a read succeeds only when it lies entirely inside one range, like process_vm_readv on a
// mapping. Counts reads so tests can check how much a walk touches.

#include "remote_memory.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

namespace sampler::testing {

class FakeMemory final : public RemoteMemory {
  public:
    bool read(std::uint64_t address, void* out, std::size_t size) const override {
        ++reads_;
        auto it = ranges_.upper_bound(address);
        if (it == ranges_.begin())
            return false;
        --it;
        const std::vector<std::uint8_t>& bytes = it->second;
        std::uint64_t offset = address - it->first;
        if (offset > bytes.size() || bytes.size() - offset < size)
            return false;
        if (size)
            std::memcpy(out, bytes.data() + offset, size);
        return true;
    }

    // A zero-filled range; ranges must not overlap.
    std::vector<std::uint8_t>& add_range(std::uint64_t address, std::size_t size) {
        return ranges_[address] = std::vector<std::uint8_t>(size, 0);
    }
    void write(std::uint64_t address, const void* data, std::size_t size) {
        auto it = ranges_.upper_bound(address);
        if (it == ranges_.begin())
            throw std::logic_error("write outside the fake memory");
        --it;
        if (address - it->first + size > it->second.size())
            throw std::logic_error("write past a fake memory range");
        std::memcpy(it->second.data() + (address - it->first), data, size);
    }
    template <typename T> void put(std::uint64_t address, T value) { write(address, &value, sizeof value); }

    std::size_t reads() const { return reads_; }

  private:
    std::map<std::uint64_t, std::vector<std::uint8_t>> ranges_;
    mutable std::size_t reads_ = 0;
};

} // namespace sampler::testing

#pragma once
// A small fixed cache in front of a hash map, for lookups that repeat on every sample (a
// thread's return addresses): one slot per key hash, so a lookup is one multiply and one load,
// with no division, no chain and no allocation. A key that lands on a taken slot replaces it.

#include <array>
#include <cstddef>
#include <cstdint>

namespace sampler {

template <class Value, unsigned Bits> class DirectMappedCache {
  public:
    const Value* find(std::uint64_t key) const {
        const Slot& slot = slots_[index(key)];
        return slot.used && slot.key == key ? &slot.value : nullptr;
    }
    void put(std::uint64_t key, const Value& value) { slots_[index(key)] = Slot{key, value, true}; }
    void clear() {
        for (Slot& slot : slots_)
            slot.used = false;
    }

  private:
    struct Slot {
        std::uint64_t key = 0;
        Value value{};
        bool used = false;
    };
    static std::size_t index(std::uint64_t key) {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> (64 - Bits));
    }
    std::array<Slot, std::size_t{1} << Bits> slots_{};
};

} // namespace sampler

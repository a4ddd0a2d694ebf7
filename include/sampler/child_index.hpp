#pragma once
// The call tree's lookup of a node's child by frame: (parent, frame) keys to node ids, in one
// flat open-addressed table. A lookup is then one probe into one array, mostly one cache line;
// std::unordered_map's bucket array and separately allocated nodes cost two or three misses, and
// every frame of a sample that differs from the thread's last stack does one.

#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace sampler {

class ChildIndex {
  public:
    using Value = std::uint32_t;

    // The value stored for `key`, or `absent`.
    Value find(std::uint64_t key, Value absent) const {
        if (slots_.empty())
            return absent;
        for (std::size_t at = home(key);; at = (at + 1) & mask_) {
            const Slot& slot = slots_[at];
            if (slot.key == key)
                return slot.value;
            if (slot.key == empty_key)
                return absent;
        }
    }

    // The value stored for `key`, storing `value` first when there is none; true when stored.
    std::pair<Value, bool> find_or_insert(std::uint64_t key, Value value) {
        if (2 * (size_ + 1) > slots_.size())
            grow();
        for (std::size_t at = home(key);; at = (at + 1) & mask_) {
            Slot& slot = slots_[at];
            if (slot.key == key)
                return {slot.value, false};
            if (slot.key == empty_key) {
                slot = Slot{key, value};
                ++size_;
                return {value, true};
            }
        }
    }

    std::size_t size() const { return size_; }

    // No key may be this: the call tree's keys put a node id (below 2^32 - 1) in the high half.
    static constexpr std::uint64_t empty_key = ~std::uint64_t{0};

  private:
    struct Slot {
        std::uint64_t key = empty_key;
        Value value = 0;
    };

    std::size_t home(std::uint64_t key) const {
        // Fibonacci hashing: the multiply spreads the parent (high half) and the frame (low half)
        // over the top bits, which pick the slot.
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> shift_);
    }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        const std::size_t capacity = old.empty() ? 64 : 2 * old.size();
        slots_.assign(capacity, Slot{});
        mask_ = capacity - 1;
        shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity)); // capacity = 2^(64 - shift_)
        size_ = 0;
        for (const Slot& slot : old)
            if (slot.key != empty_key)
                find_or_insert(slot.key, slot.value);
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 64;
    std::size_t size_ = 0;
};

} // namespace sampler

#pragma once
// One read of the part of a target struct that holds the fields we need, then typed access to
// those fields by offset. Keeps the number of reads per struct at one, and makes a field outside
// what was read (or `absent`) read as zero instead of out of bounds.

#include "python_layout.hpp"
#include "remote_memory.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>

namespace sampler::python {

// The smallest byte range covering a set of fields.
struct FieldRange {
    int begin = INT_MAX;
    int end = 0;
    FieldRange& add(int offset, int size) {
        if (offset != absent) {
            begin = std::min(begin, offset);
            end = std::max(end, offset + size);
        }
        return *this;
    }
    bool empty() const { return end <= begin; }
};

class StructBytes {
  public:
    static constexpr int capacity = 512;

    // Reads bytes [begin, end) of the struct at `address`; false when unreadable or too wide.
    bool read(const RemoteMemory& memory, std::uint64_t address, int begin, int end) {
        begin_ = end_ = 0;
        if (begin < 0 || end <= begin || end - begin > capacity)
            return false;
        if (!memory.read(address + static_cast<std::uint64_t>(begin), bytes_.data(),
                         static_cast<std::size_t>(end - begin)))
            return false;
        begin_ = begin;
        end_ = end;
        return true;
    }
    bool read(const RemoteMemory& memory, std::uint64_t address, const FieldRange& range) {
        return !range.empty() && read(memory, address, range.begin, range.end);
    }

    // Takes bytes [begin, end) of a struct already read elsewhere (a batched read).
    bool assign(const std::uint8_t* data, const FieldRange& range) {
        begin_ = end_ = 0;
        if (range.empty() || range.begin < 0 || range.end - range.begin > capacity)
            return false;
        std::memcpy(bytes_.data(), data, static_cast<std::size_t>(range.end - range.begin));
        begin_ = range.begin;
        end_ = range.end;
        return true;
    }

    std::uint64_t u64(int offset) const { return get<std::uint64_t>(offset); }
    std::int64_t i64(int offset) const { return get<std::int64_t>(offset); }
    std::uint32_t u32(int offset) const { return get<std::uint32_t>(offset); }
    std::int32_t i32(int offset) const { return get<std::int32_t>(offset); }
    std::uint8_t u8(int offset) const { return get<std::uint8_t>(offset); }
    std::int8_t i8(int offset) const { return get<std::int8_t>(offset); }

  private:
    template <typename T> T get(int offset) const {
        T value{};
        if (offset == absent || offset < begin_ || offset + static_cast<int>(sizeof(T)) > end_)
            return value;
        std::memcpy(&value, bytes_.data() + (offset - begin_), sizeof(T));
        return value;
    }

    std::array<std::uint8_t, capacity> bytes_{};
    int begin_ = 0;
    int end_ = 0;
};

} // namespace sampler::python

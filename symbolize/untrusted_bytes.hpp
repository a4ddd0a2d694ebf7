#pragma once
// Reading fixed-size values out of bytes that may be truncated or malformed (files we did not
// write, memory of another process): every read is bounds-checked.

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace sampler {

template <typename T> std::optional<T> read_at(std::span<const std::uint8_t> bytes, std::uint64_t offset) {
    if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
        return std::nullopt;
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

} // namespace sampler

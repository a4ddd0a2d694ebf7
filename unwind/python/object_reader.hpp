#pragma once
// Reads the few kinds of CPython objects a stack needs (str, bytes) out of untrusted target
// memory: type-checked when the type object's address is known, bounded in size, and decoded
// to valid UTF-8.

#include "python_layout.hpp"
#include "remote_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sampler::python {

// Run-time addresses of type objects, to check an object's ob_type; 0 = unknown, not checked.
struct TypeAddresses {
    std::uint64_t code = 0;  // PyCode_Type
    std::uint64_t frame = 0; // PyFrame_Type (<= 3.10 frames are objects)
    std::uint64_t str = 0;   // PyUnicode_Type (3.x) or PyString_Type (2.7)
    std::uint64_t bytes = 0; // PyBytes_Type (3.x) or PyString_Type (2.7)
};

inline constexpr std::size_t max_string_chars = 1024;        // longer names are cut here
inline constexpr std::size_t max_line_table_bytes = 1 << 20; // larger tables are not read

// The object's type is named `expected` (ob_type->tp_name, at the same offsets in every
// version); `expected` is at most 15 characters.
bool has_type_name(const RemoteMemory& memory, std::uint64_t object, std::string_view expected);

class ObjectReader {
  public:
    ObjectReader(const PythonLayout& layout, TypeAddresses types) : layout_(layout), types_(types) {}

    // A str (2.7: a str of bytes) as UTF-8, cut at max_string_chars characters; nullopt when it
    // cannot be read or is not a string.
    std::optional<std::string> read_string(const RemoteMemory& memory, std::uint64_t object) const;

    // The payload of a bytes object (2.7: str); nullopt when unreadable or larger than `max_size`.
    std::optional<std::vector<std::uint8_t>> read_bytes(const RemoteMemory& memory, std::uint64_t object,
                                                        std::size_t max_size) const;

    // True when the type is unknown (0) or the object's ob_type is `type`.
    bool has_type(const RemoteMemory& memory, std::uint64_t object, std::uint64_t type) const;

    const PythonLayout& layout() const { return layout_; }
    const TypeAddresses& types() const { return types_; }

  private:
    std::optional<std::string> read_unicode(const RemoteMemory& memory, std::uint64_t object) const;
    std::optional<std::string> read_py2_string(const RemoteMemory& memory, std::uint64_t object) const;

    PythonLayout layout_;
    TypeAddresses types_;
};

} // namespace sampler::python

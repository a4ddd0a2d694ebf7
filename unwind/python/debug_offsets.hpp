#pragma once
// CPython 3.13+ publishes the offsets a debugger needs in `_Py_DebugOffsets`, at the start of
// `_PyRuntime` (section .PyRuntime). Building the layout from the copy in the target's memory
// means a new patch release (whose private structs may move) needs no new table here.

#include "python_layout.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sampler::python {

inline constexpr char debug_offsets_cookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};
// Bytes to copy from the start of _PyRuntime: covers every version's struct we know.
inline constexpr std::size_t debug_offsets_read_size = 1024;

// PY_VERSION_HEX from the struct's header; nullopt without the cookie.
std::optional<std::uint64_t> debug_offsets_version(std::span<const std::uint8_t> runtime_start);

// The layout described by the struct (3.13, 3.14), on top of the nearest known table for what
// the struct does not say. nullopt (and the reason) for a version whose struct is unknown, a
// free-threaded build, or offsets that are out of range.
std::optional<PythonLayout> layout_from_debug_offsets(std::span<const std::uint8_t> runtime_start,
                                                      std::string* why_not);

// "3.13.0", "3.14.0b2" from PY_VERSION_HEX.
std::string format_version_hex(std::uint64_t hex);

} // namespace sampler::python

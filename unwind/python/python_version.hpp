#pragma once
// Telling which CPython a module holds when it does not say so in `Py_Version` (before 3.11).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sampler::python {

struct MinorVersion {
    int major = 0;
    int minor = 0;
};

// From a file name with "pythonX.Y" in it: libpython3.6m.so.1.0, python3.11, libpython2.7.so.
std::optional<MinorVersion> version_from_file_name(std::string_view file_name);

// The full version ("3.9.18") when the file's read-only data holds a NUL-terminated
// "X.Y.<digits>" string for the given minor version (PY_VERSION, often merged into the tail of
// a longer string by the linker); "X.Y" otherwise.
std::string full_version_from_bytes(std::span<const std::uint8_t> file, MinorVersion version);

} // namespace sampler::python

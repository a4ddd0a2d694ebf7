#pragma once
// Turning string payloads copied out of the target into valid UTF-8, whatever the bytes are.

#include <cstdint>
#include <span>
#include <string>

namespace sampler::python {

// Appends one code point; surrogates and values past U+10FFFF become U+FFFD.
void append_utf8(std::string& out, std::uint32_t code_point);

// PEP 393 payloads: `kind` is 1 (latin-1), 2 (UCS-2) or 4 (UCS-4), little-endian.
std::string decode_pep393(std::span<const std::uint8_t> data, int kind);

// Bytes of unknown encoding (2.7 str): kept when they are valid UTF-8, else read as latin-1.
std::string utf8_or_latin1(std::span<const std::uint8_t> bytes);

} // namespace sampler::python

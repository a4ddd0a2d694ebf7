#include "text_encoding.hpp"

namespace sampler::python {
namespace {

// Length of the well-formed UTF-8 sequence at `i`, or 0.
std::size_t utf8_sequence_length(std::span<const std::uint8_t> s, std::size_t i) {
    std::uint8_t b = s[i];
    if (b < 0x80)
        return 1;
    std::size_t length = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    if (length == 0 || i + length > s.size())
        return 0;
    for (std::size_t k = 1; k < length; ++k)
        if ((s[i + k] & 0xc0) != 0x80)
            return 0;
    // Overlong 3/4-byte forms, surrogates, and values past U+10FFFF.
    if (b == 0xe0 && s[i + 1] < 0xa0)
        return 0;
    if (b == 0xed && s[i + 1] >= 0xa0)
        return 0;
    if (b == 0xf0 && s[i + 1] < 0x90)
        return 0;
    if (b == 0xf4 && s[i + 1] >= 0x90)
        return 0;
    return length;
}

} // namespace

void append_utf8(std::string& out, std::uint32_t c) {
    if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        c = 0xfffd;
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xc0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xe0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    }
}

std::string decode_pep393(std::span<const std::uint8_t> data, int kind) {
    std::string out;
    if (kind != 1 && kind != 2 && kind != 4)
        return out;
    std::size_t width = static_cast<std::size_t>(kind);
    out.reserve(data.size());
    for (std::size_t i = 0; i + width <= data.size(); i += width) {
        std::uint32_t c = 0;
        for (std::size_t k = 0; k < width; ++k)
            c |= std::uint32_t(data[i + k]) << (8 * k);
        append_utf8(out, c);
    }
    return out;
}

std::string utf8_or_latin1(std::span<const std::uint8_t> bytes) {
    bool valid = true;
    for (std::size_t i = 0; i < bytes.size() && valid;) {
        std::size_t n = utf8_sequence_length(bytes, i);
        valid = n != 0;
        i += n;
    }
    if (valid)
        return std::string(bytes.begin(), bytes.end());
    return decode_pep393(bytes, 1);
}

} // namespace sampler::python

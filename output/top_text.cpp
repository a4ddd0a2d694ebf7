#include "top_text.hpp"

#include <cstdio>

namespace sampler {
namespace {

bool continuation_byte(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Byte length of the first `columns` code points of `text`.
std::size_t prefix_bytes(const std::string& text, std::size_t columns) {
    std::size_t bytes = 0;
    for (std::size_t seen = 0; bytes < text.size(); ++bytes) {
        if (!continuation_byte(text[bytes]) && seen++ == columns)
            break;
    }
    return bytes;
}

} // namespace

std::string printable(const std::string& text) {
    std::string out = text;
    for (char& c : out) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F)
            c = '?';
    }
    return out;
}

std::size_t display_width(const std::string& text) {
    std::size_t columns = 0;
    for (char c : text)
        columns += continuation_byte(c) ? 0 : 1;
    return columns;
}

std::string right_aligned(const std::string& text, std::size_t width) {
    const std::size_t columns = display_width(text);
    return columns >= width ? text : std::string(width - columns, ' ') + text;
}

std::string format_percent(std::uint64_t count, std::uint64_t of) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", of ? 100.0 * double(count) / double(of) : 0.0);
    return text;
}

std::string fit_to_width(const std::string& text, std::size_t width) {
    if (width == 0 || display_width(text) <= width)
        return text;
    const std::string ellipsis = "...";
    if (width <= ellipsis.size())
        return text.substr(0, prefix_bytes(text, width));
    return text.substr(0, prefix_bytes(text, width - ellipsis.size())) + ellipsis;
}

} // namespace sampler

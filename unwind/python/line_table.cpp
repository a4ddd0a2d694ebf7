#include "line_table.hpp"

namespace sampler::python {
namespace {

// Garbage first lines plus many deltas must not overflow an int (undefined behaviour).
int clamp_line(long line) {
    return line < 0 ? -1 : line > 0x7fffffff ? 0x7fffffff : static_cast<int>(line);
}

// A cursor over the location table that never reads past its end: past-the-end bytes read as 0.
struct ByteCursor {
    std::span<const std::uint8_t> bytes;
    std::size_t pos = 0;

    bool at_end() const { return pos >= bytes.size(); }
    std::uint8_t next() { return at_end() ? 0 : bytes[pos++]; }

    // 6-bit chunks, least significant first, bit 6 = more follow. Capped so a long run of
    // continuation bytes cannot shift past 32 bits.
    std::uint32_t varint() {
        std::uint8_t byte = next();
        std::uint32_t value = byte & 63;
        for (unsigned shift = 6; (byte & 64) != 0 && shift < 32; shift += 6) {
            byte = next();
            value |= std::uint32_t(byte & 63) << shift;
        }
        return value;
    }
    std::int32_t svarint() {
        std::uint32_t u = varint();
        std::int32_t magnitude = static_cast<std::int32_t>(u >> 1);
        return (u & 1) ? -magnitude : magnitude;
    }
};

} // namespace

int lnotab_line(std::span<const std::uint8_t> table, int first_line, int byte_offset,
                bool signed_line_deltas) {
    long line = first_line;
    long address = 0;
    for (std::size_t i = 0; i + 1 < table.size(); i += 2) {
        address += table[i];
        if (address > byte_offset)
            break;
        line += signed_line_deltas ? static_cast<std::int8_t>(table[i + 1]) : table[i + 1];
    }
    return clamp_line(line);
}

std::optional<int> linetable_310_line(std::span<const std::uint8_t> table, int first_line, int byte_offset) {
    long line = first_line;
    long end = 0;
    for (std::size_t i = 0; i + 1 < table.size(); i += 2) {
        long start = end;
        end += table[i];
        auto line_delta = static_cast<std::int8_t>(table[i + 1]);
        bool has_line = line_delta != -128;
        if (has_line)
            line += line_delta;
        if (start <= byte_offset && byte_offset < end)
            return has_line ? std::optional<int>(clamp_line(line)) : std::nullopt;
    }
    return std::nullopt;
}

std::optional<int> location_table_line(std::span<const std::uint8_t> table, int first_line, int byte_offset) {
    ByteCursor cursor{table};
    long line = first_line;
    long address = 0;
    // Each entry starts with a byte whose bit 7 is set; what follows depends on its code.
    while (!cursor.at_end()) {
        std::uint8_t first = cursor.next();
        if ((first & 0x80) == 0)
            continue; // resynchronize on the next entry start
        int code = (first >> 3) & 15;
        long length = 2 * ((first & 7) + 1);
        long delta = 0;
        if (code == 13 || code == 14)
            delta = cursor.svarint();
        else if (code >= 10 && code <= 12)
            delta = code - 10;
        line += delta;
        if (address <= byte_offset && byte_offset < address + length) {
            if (code == 15)
                return std::nullopt;
            return clamp_line(line);
        }
        address += length;
        // Skip the rest of the entry: column data, up to the next entry start.
        while (!cursor.at_end() && (cursor.bytes[cursor.pos] & 0x80) == 0)
            ++cursor.pos;
    }
    return std::nullopt;
}

std::uint32_t line_for_offset(LineTableFormat format, std::span<const std::uint8_t> table, int first_line,
                              int byte_offset) {
    if (byte_offset < 0)
        return first_line > 0 ? static_cast<std::uint32_t>(first_line) : 0;
    std::optional<int> line;
    switch (format) {
    case LineTableFormat::lnotab_unsigned:
        line = lnotab_line(table, first_line, byte_offset, false);
        break;
    case LineTableFormat::lnotab:
        line = lnotab_line(table, first_line, byte_offset, true);
        break;
    case LineTableFormat::linetable_310:
        line = linetable_310_line(table, first_line, byte_offset);
        break;
    case LineTableFormat::location_table:
        line = location_table_line(table, first_line, byte_offset);
        break;
    }
    return line && *line > 0 ? static_cast<std::uint32_t>(*line) : 0;
}

} // namespace sampler::python

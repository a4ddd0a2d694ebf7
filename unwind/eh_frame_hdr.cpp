#include "eh_frame_hdr.hpp"

#include <cstring>

namespace sampler {
namespace {

// DWARF exception-header pointer encodings (LSB, "DWARF Extensions").
constexpr std::uint8_t pe_omit = 0xff;
constexpr std::uint8_t pe_udata4 = 0x03;
constexpr std::uint8_t pe_sdata4 = 0x0b;
constexpr std::uint8_t pe_udata8 = 0x04;
constexpr std::uint8_t pe_sdata8 = 0x0c;
constexpr std::uint8_t pe_pcrel = 0x10;
constexpr std::uint8_t pe_datarel = 0x30;

// Reads one encoded value at `pos` (advancing it); `field_address` is its run-time address.
std::optional<std::uint64_t> read_encoded(std::span<const std::uint8_t> bytes, std::size_t& pos,
                                          std::uint8_t encoding, std::uint64_t field_address,
                                          std::uint64_t data_base) {
    std::uint64_t value = 0;
    std::size_t size = 0;
    switch (encoding & 0x0f) {
    case pe_udata4:
    case pe_sdata4:
        size = 4;
        break;
    case pe_udata8:
    case pe_sdata8:
        size = 8;
        break;
    default:
        return std::nullopt;
    }
    if (pos > bytes.size() || bytes.size() - pos < size)
        return std::nullopt;
    if (size == 4) {
        std::uint32_t raw;
        std::memcpy(&raw, bytes.data() + pos, 4);
        value = (encoding & 0x0f) == pe_sdata4 ? std::uint64_t(std::int64_t(std::int32_t(raw))) : raw;
    } else {
        std::memcpy(&value, bytes.data() + pos, 8);
    }
    pos += size;
    switch (encoding & 0x70) {
    case 0:
        return value;
    case pe_pcrel:
        return field_address + value;
    case pe_datarel:
        return data_base + value;
    default:
        return std::nullopt;
    }
}

} // namespace

std::optional<EhFrameTable> parse_eh_frame_hdr(std::span<const std::uint8_t> header,
                                               std::uint64_t header_address) {
    if (header.size() < 4 || header[0] != 1)
        return std::nullopt;
    std::uint8_t frame_pointer_encoding = header[1];
    std::uint8_t count_encoding = header[2];
    std::uint8_t table_encoding = header[3];
    if (count_encoding == pe_omit || table_encoding != (pe_datarel | pe_sdata4))
        return std::nullopt;
    std::size_t pos = 4;
    if (frame_pointer_encoding != pe_omit &&
        !read_encoded(header, pos, frame_pointer_encoding, header_address + pos, header_address))
        return std::nullopt;
    auto count = read_encoded(header, pos, count_encoding, header_address + pos, header_address);
    if (!count)
        return std::nullopt;
    // The table must fit in the segment we were given: never trust the count alone.
    std::uint64_t available = (header.size() - pos) / 8;
    EhFrameTable table;
    table.header_address = header_address;
    table.table_address = header_address + pos;
    table.entry_count = *count < available ? *count : available;
    return table;
}

std::optional<EhFrameTable> locate_eh_frame_table(const Module& module) {
    const auto& segment = module.image->eh_frame_hdr();
    if (!segment)
        return std::nullopt;
    std::span<const std::uint8_t> bytes = module.image->bytes();
    if (segment->offset > bytes.size())
        return std::nullopt;
    std::uint64_t size = std::min<std::uint64_t>(segment->filesz, bytes.size() - segment->offset);
    return parse_eh_frame_hdr(bytes.subspan(segment->offset, size), module.bias + segment->vaddr);
}

} // namespace sampler

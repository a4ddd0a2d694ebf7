#include "protobuf_writer.hpp"

namespace sampler::protobuf {
namespace {

enum WireType : std::uint32_t { varint_type = 0, length_delimited_type = 2 };

void append_key(std::string& out, std::uint32_t field, WireType type) {
    append_varint(out, (static_cast<std::uint64_t>(field) << 3) | type);
}

} // namespace

void append_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out += static_cast<char>((value & 0x7F) | 0x80);
        value >>= 7;
    }
    out += static_cast<char>(value);
}

void Writer::varint_field(std::uint32_t field, std::uint64_t value) {
    append_key(bytes_, field, varint_type);
    append_varint(bytes_, value);
}

void Writer::signed_field(std::uint32_t field, std::int64_t value) {
    varint_field(field, static_cast<std::uint64_t>(value));
}

void Writer::bytes_field(std::uint32_t field, std::string_view bytes) {
    append_key(bytes_, field, length_delimited_type);
    append_varint(bytes_, bytes.size());
    bytes_.append(bytes);
}

void Writer::packed_varints(std::uint32_t field, std::span<const std::uint64_t> values) {
    std::string packed;
    for (std::uint64_t value : values)
        append_varint(packed, value);
    bytes_field(field, packed);
}

} // namespace sampler::protobuf

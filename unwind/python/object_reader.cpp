#include "object_reader.hpp"

#include "struct_bytes.hpp"
#include "text_encoding.hpp"

namespace sampler::python {
namespace {

// PEP 393 `state` bits (GCC bit-field order, least significant first).
struct UnicodeState {
    int kind = 0;
    bool compact = false;
    bool ascii = false;
    bool ready = false; // <= 3.11; means "statically allocated" from 3.12, which we ignore
};

UnicodeState decode_state(std::uint32_t state) {
    return {static_cast<int>((state >> 2) & 7), ((state >> 5) & 1) != 0, ((state >> 6) & 1) != 0,
            ((state >> 7) & 1) != 0};
}

bool plausible_address(std::uint64_t address) {
    // User-space x86-64, and PyObjects are at least 8-byte aligned.
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

} // namespace

bool has_type_name(const RemoteMemory& memory, std::uint64_t object, std::string_view expected) {
    constexpr std::uint64_t ob_type = 8, tp_name = 24;
    std::uint64_t type = 0, name = 0;
    char text[16] = {};
    if (!plausible_address(object) || expected.size() >= sizeof text ||
        !memory.read_value(object + ob_type, type) || !plausible_address(type) ||
        !memory.read_value(type + tp_name, name) || name == 0 ||
        !memory.read(name, text, expected.size() + 1))
        return false;
    return std::string_view(text, expected.size()) == expected && text[expected.size()] == 0;
}

bool ObjectReader::has_type(const RemoteMemory& memory, std::uint64_t object, std::uint64_t type) const {
    if (!plausible_address(object))
        return false;
    if (type == 0)
        return true;
    std::uint64_t actual = 0;
    return memory.read_value(object + static_cast<std::uint64_t>(layout_.ob_type), actual) && actual == type;
}

std::optional<std::string> ObjectReader::read_string(const RemoteMemory& memory, std::uint64_t object) const {
    if (!plausible_address(object))
        return std::nullopt;
    return layout_.strings.py2_bytes ? read_py2_string(memory, object) : read_unicode(memory, object);
}

std::optional<std::string> ObjectReader::read_py2_string(const RemoteMemory& memory,
                                                         std::uint64_t object) const {
    const StringLayout& s = layout_.strings;
    StructBytes header;
    if (!header.read(memory, object, 0, s.bytes_size + 8))
        return std::nullopt;
    if (types_.str != 0 && header.u64(layout_.ob_type) != types_.str)
        return std::nullopt;
    std::int64_t size = header.i64(s.bytes_size);
    if (size < 0)
        return std::nullopt;
    std::vector<std::uint8_t> payload(
        std::min<std::uint64_t>(static_cast<std::uint64_t>(size), max_string_chars));
    if (!memory.read(object + static_cast<std::uint64_t>(s.bytes_data), payload.data(), payload.size()))
        return std::nullopt;
    // A cut in the middle of a UTF-8 sequence would make the whole name read as latin-1.
    if (payload.size() < static_cast<std::uint64_t>(size))
        while (!payload.empty() && (payload.back() & 0xc0) == 0x80)
            payload.pop_back();
    if (payload.size() < static_cast<std::uint64_t>(size) && !payload.empty() && payload.back() >= 0xc0)
        payload.pop_back();
    return utf8_or_latin1(payload);
}

std::optional<std::string> ObjectReader::read_unicode(const RemoteMemory& memory,
                                                      std::uint64_t object) const {
    const StringLayout& s = layout_.strings;
    StructBytes header;
    if (!header.read(memory, object, 0, s.unicode_ascii_data))
        return std::nullopt;
    if (types_.str != 0 && header.u64(layout_.ob_type) != types_.str)
        return std::nullopt;
    std::int64_t length = header.i64(s.unicode_length);
    UnicodeState state = decode_state(header.u32(s.unicode_state));
    if (length < 0 || (state.kind != 1 && state.kind != 2 && state.kind != 4) ||
        (state.ascii && state.kind != 1))
        return std::nullopt;
    std::uint64_t data = 0;
    if (state.compact) {
        data =
            object + static_cast<std::uint64_t>(state.ascii ? s.unicode_ascii_data : s.unicode_compact_data);
    } else {
        // A legacy string made by the old API: its characters live in a separate buffer.
        if (layout_.minor <= 11 && !state.ready)
            return std::nullopt;
        if (!memory.read_value(object + static_cast<std::uint64_t>(s.unicode_compact_data), data) ||
            !plausible_address(data & ~std::uint64_t{7}))
            return std::nullopt;
    }
    std::size_t chars = std::min<std::uint64_t>(static_cast<std::uint64_t>(length), max_string_chars);
    std::vector<std::uint8_t> payload(chars * static_cast<std::size_t>(state.kind));
    if (!memory.read(data, payload.data(), payload.size()))
        return std::nullopt;
    return state.ascii ? utf8_or_latin1(payload) : decode_pep393(payload, state.kind);
}

std::optional<std::vector<std::uint8_t>>
ObjectReader::read_bytes(const RemoteMemory& memory, std::uint64_t object, std::size_t max_size) const {
    if (!plausible_address(object))
        return std::nullopt;
    const StringLayout& s = layout_.strings;
    StructBytes header;
    if (!header.read(memory, object, 0, s.bytes_size + 8))
        return std::nullopt;
    if (types_.bytes != 0 && header.u64(layout_.ob_type) != types_.bytes)
        return std::nullopt;
    std::int64_t size = header.i64(s.bytes_size);
    if (size < 0 || static_cast<std::uint64_t>(size) > max_size)
        return std::nullopt;
    std::vector<std::uint8_t> payload(static_cast<std::size_t>(size));
    if (!memory.read(object + static_cast<std::uint64_t>(s.bytes_data), payload.data(), payload.size()))
        return std::nullopt;
    return payload;
}

} // namespace sampler::python

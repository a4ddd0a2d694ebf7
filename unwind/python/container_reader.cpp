#include "container_reader.hpp"

#include "struct_bytes.hpp"

#include <cstring>

namespace sampler::python {
namespace {

constexpr int digit_bits = 30;          // PyLong_SHIFT on every 64-bit build
constexpr std::int64_t dummy_hash = -1; // a deleted set slot: key = the dummy object, hash = -1
constexpr int tp_name = 24;             // PyTypeObject.tp_name, in every version

std::uint64_t u64_in(const std::vector<std::uint8_t>& bytes, std::size_t at) {
    std::uint64_t value = 0;
    std::memcpy(&value, bytes.data() + at, sizeof value);
    return value;
}

std::uint64_t pointer_at(const RemoteMemory& memory, std::uint64_t object, int offset) {
    std::uint64_t value = 0;
    if (!plausible_object(object) || offset == absent ||
        !memory.read_value(object + static_cast<std::uint64_t>(offset), value))
        return 0;
    return value;
}

} // namespace

bool plausible_object(std::uint64_t address) {
    // User-space x86-64, and PyObjects are at least 8-byte aligned.
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

std::optional<std::vector<std::uint64_t>> ContainerReader::set_items(const RemoteMemory& memory,
                                                                     std::uint64_t set) const {
    StructBytes header;
    if (!plausible_object(set) ||
        !header.read(
            memory, set,
            FieldRange().add(layout_.set_used, 8).add(layout_.set_mask, 8).add(layout_.set_table, 8)))
        return std::nullopt;
    const std::uint64_t slots = header.u64(layout_.set_mask) + 1;
    const std::uint64_t used = header.u64(layout_.set_used);
    const std::uint64_t table = header.u64(layout_.set_table);
    // A set's table has a power-of-two number of slots, at least 8 (PySet_MINSIZE).
    if (slots < 8 || slots > max_set_slots || (slots & (slots - 1)) != 0 || used > slots ||
        !plausible_object(table))
        return std::nullopt;
    const auto entry_size = static_cast<std::size_t>(layout_.set_entry_size);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(slots) * entry_size);
    if (!memory.read(table, bytes.data(), bytes.size()))
        return std::nullopt;
    std::vector<std::uint64_t> items;
    for (std::size_t at = 0; at < bytes.size() && items.size() < used; at += entry_size) {
        const std::uint64_t key = u64_in(bytes, at);
        if (key != 0 && static_cast<std::int64_t>(u64_in(bytes, at + 8)) != dummy_hash)
            items.push_back(key);
    }
    return items;
}

std::optional<std::vector<std::uint64_t>>
ContainerReader::read_items(const RemoteMemory& memory, std::uint64_t items, std::int64_t size) const {
    if (size < 0 || static_cast<std::uint64_t>(size) > max_sequence_items ||
        (size > 0 && !plausible_object(items)))
        return std::nullopt;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(size));
    if (size > 0 && !memory.read(items, values.data(), values.size() * sizeof(std::uint64_t)))
        return std::nullopt;
    return values;
}

std::optional<std::vector<std::uint64_t>> ContainerReader::list_items(const RemoteMemory& memory,
                                                                      std::uint64_t list) const {
    StructBytes header;
    if (!plausible_object(list) ||
        !header.read(memory, list, FieldRange().add(layout_.var_size, 8).add(layout_.list_items, 8)))
        return std::nullopt;
    return read_items(memory, header.u64(layout_.list_items), header.i64(layout_.var_size));
}

std::optional<std::vector<std::uint64_t>> ContainerReader::tuple_items(const RemoteMemory& memory,
                                                                       std::uint64_t tuple) const {
    std::int64_t size = 0;
    if (!plausible_object(tuple) ||
        !memory.read_value(tuple + static_cast<std::uint64_t>(layout_.var_size), size))
        return std::nullopt;
    return read_items(memory, tuple + static_cast<std::uint64_t>(layout_.tuple_items), size);
}

std::uint64_t ContainerReader::weakref_target(const RemoteMemory& memory, std::uint64_t ref) const {
    return pointer_at(memory, ref, layout_.weakref_object);
}

std::optional<std::uint64_t> ContainerReader::small_int(const RemoteMemory& memory,
                                                        std::uint64_t object) const {
    std::int64_t size = 0;
    if (!plausible_object(object) ||
        !memory.read_value(object + static_cast<std::uint64_t>(layout_.long_size), size))
        return std::nullopt;
    std::int64_t digits = size;
    if (layout_.long_tagged) {
        const std::int64_t sign = size & 3;
        if (sign == 1)
            return 0;
        if (sign != 0)
            return std::nullopt;
        digits = size >> 3;
    }
    // Three 30-bit digits hold 64 bits.
    std::uint32_t digit[3] = {};
    if (digits < 0 || digits > 3 ||
        !memory.read(object + static_cast<std::uint64_t>(layout_.long_digits), digit,
                     static_cast<std::size_t>(digits) * sizeof digit[0]))
        return std::nullopt;
    unsigned __int128 value = 0;
    for (std::int64_t i = digits - 1; i >= 0; --i) {
        if (digit[i] >> digit_bits)
            return std::nullopt; // not a digit: not an int
        value = (value << digit_bits) | digit[i];
    }
    if (value >> 64)
        return std::nullopt;
    return static_cast<std::uint64_t>(value);
}

std::uint64_t ContainerReader::method_self(const RemoteMemory& memory, std::uint64_t method) const {
    return pointer_at(memory, method, layout_.method_self);
}

std::uint64_t ContainerReader::type_of(const RemoteMemory& memory, std::uint64_t object) const {
    return pointer_at(memory, object, python_.ob_type);
}

std::uint64_t ContainerReader::base_of(const RemoteMemory& memory, std::uint64_t type) const {
    return pointer_at(memory, type, layout_.type_base);
}

const std::string& TypeNames::name(const RemoteMemory& memory, std::uint64_t type) {
    if (auto found = names_.find(type); found != names_.end())
        return found->second;
    if (names_.size() >= max_entries)
        names_.clear();
    std::string& name = names_[type];
    const std::uint64_t text = pointer_at(memory, type, tp_name);
    char buffer[max_name] = {};
    // tp_name is a C string of unknown length: read what we can of it, a byte at a time past a
    // page end (a short name may end just before an unmapped page).
    if (text != 0 && text < (std::uint64_t{1} << 47)) {
        std::size_t length = 0;
        if (!memory.read(text, buffer, sizeof buffer))
            while (length < sizeof buffer && memory.read(text + length, buffer + length, 1) && buffer[length])
                ++length;
        name.assign(buffer, strnlen(buffer, sizeof buffer));
    }
    return name;
}

} // namespace sampler::python

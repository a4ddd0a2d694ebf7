#include "dict_reader.hpp"

#include "struct_bytes.hpp"

#include <cstring>

namespace sampler::python {
namespace {

bool plausible_address(std::uint64_t address) {
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

bool power_of_two(std::uint64_t value) {
    return value != 0 && (value & (value - 1)) == 0;
}

// USABLE_FRACTION: a table of `slots` index slots holds at most this many entries (3.6+).
std::uint64_t usable_entries(std::uint64_t slots) {
    return (slots << 1) / 3;
}

std::uint64_t u64_in(const std::vector<std::uint8_t>& bytes, std::size_t at) {
    std::uint64_t value = 0;
    std::memcpy(&value, bytes.data() + at, sizeof value);
    return value;
}

} // namespace

std::optional<std::vector<DictEntry>> DictReader::entries(const RemoteMemory& memory,
                                                          std::uint64_t dict) const {
    if (!plausible_address(dict))
        return std::nullopt;
    if (dict_type_ != 0) {
        std::uint64_t type = 0;
        if (!memory.read_value(dict + static_cast<std::uint64_t>(layout_.ob_type), type) ||
            type != dict_type_)
            return std::nullopt;
    }
    const DictLayout& d = layout_.dict;
    if (d.model == DictModel::open_table)
        return open_table(memory, dict);
    StructBytes header;
    if (!header.read(memory, dict, FieldRange().add(d.keys, 8).add(d.values, 8)))
        return std::nullopt;
    std::uint64_t keys = header.u64(d.keys);
    std::uint64_t values = header.u64(d.values);
    if (values == 0) {
        auto table = entry_table(memory, keys);
        return table ? read_entries(memory, *table, nullptr) : std::nullopt;
    }
    if (!plausible_address(values))
        return std::nullopt;
    SplitValues split{values + static_cast<std::uint64_t>(d.values_array)};
    std::uint8_t capacity = 0;
    if (d.values_capacity != absent) {
        if (!memory.read_value(values + static_cast<std::uint64_t>(d.values_capacity), capacity))
            return std::nullopt;
        split.capacity = capacity;
    }
    return split_entries(memory, keys, split);
}

std::optional<std::vector<DictEntry>>
DictReader::split_entries(const RemoteMemory& memory, std::uint64_t keys, const SplitValues& values) const {
    if (layout_.dict.model == DictModel::open_table || !plausible_address(values.array))
        return std::nullopt;
    auto table = entry_table(memory, keys);
    return table ? read_entries(memory, *table, &values) : std::nullopt;
}

std::optional<std::vector<DictEntry>> DictReader::open_table(const RemoteMemory& memory,
                                                             std::uint64_t dict) const {
    const DictLayout& d = layout_.dict;
    StructBytes header;
    if (!header.read(memory, dict, FieldRange().add(d.mask, 8).add(d.table, 8)))
        return std::nullopt;
    std::uint64_t slots = header.u64(d.mask) + 1;
    std::uint64_t table = header.u64(d.table);
    // PyDict_MINSIZE is 8: every 2.7 table has at least that many slots.
    if (!power_of_two(slots) || slots < 8 || slots > max_dict_slots || !plausible_address(table))
        return std::nullopt;
    return read_entries(memory, {table, slots, d.entry_size, true}, nullptr);
}

std::optional<DictReader::EntryTable> DictReader::entry_table(const RemoteMemory& memory,
                                                              std::uint64_t keys) const {
    if (!plausible_address(keys))
        return std::nullopt;
    return layout_.dict.model == DictModel::indexed_keys ? indexed_keys(memory, keys)
                                                         : kinds_keys(memory, keys);
}

std::optional<DictReader::EntryTable> DictReader::indexed_keys(const RemoteMemory& memory,
                                                               std::uint64_t keys) const {
    const DictLayout& d = layout_.dict;
    StructBytes header;
    if (!header.read(memory, keys, FieldRange().add(d.keys_size, 8).add(d.keys_nentries, 8)))
        return std::nullopt;
    std::uint64_t slots = header.u64(d.keys_size);
    std::uint64_t count = header.u64(d.keys_nentries);
    // The empty dict's shared keys have a single slot; index slots widen with the table.
    if (!power_of_two(slots) || slots > max_dict_slots || count > usable_entries(slots))
        return std::nullopt;
    std::uint64_t index_bytes = slots <= 0xff ? 1 : slots <= 0xffff ? 2 : 4;
    std::uint64_t address = keys + static_cast<std::uint64_t>(d.keys_indices) + slots * index_bytes;
    return EntryTable{address, count, d.entry_size, true};
}

std::optional<DictReader::EntryTable> DictReader::kinds_keys(const RemoteMemory& memory,
                                                             std::uint64_t keys) const {
    const DictLayout& d = layout_.dict;
    StructBytes header;
    if (!header.read(memory, keys,
                     FieldRange()
                         .add(d.keys_log2_size, 1)
                         .add(d.keys_log2_index_bytes, 1)
                         .add(d.keys_kind, 1)
                         .add(d.keys_nentries, 8)))
        return std::nullopt;
    unsigned log2_slots = header.u8(d.keys_log2_size);
    unsigned log2_index_bytes = header.u8(d.keys_log2_index_bytes);
    unsigned kind = header.u8(d.keys_kind); // 0 general, 1 unicode, 2 split (unicode entries)
    std::uint64_t count = header.u64(d.keys_nentries);
    if ((std::uint64_t{1} << std::min(log2_slots, 63u)) > max_dict_slots || log2_index_bytes < log2_slots ||
        log2_index_bytes > log2_slots + 3 || kind > 2 ||
        count > usable_entries(std::uint64_t{1} << log2_slots))
        return std::nullopt;
    std::uint64_t address =
        keys + static_cast<std::uint64_t>(d.keys_indices) + (std::uint64_t{1} << log2_index_bytes);
    return EntryTable{address, count, kind == 0 ? d.entry_size : d.unicode_entry_size, kind == 0};
}

std::optional<std::vector<DictEntry>> DictReader::read_entries(const RemoteMemory& memory,
                                                               const EntryTable& table,
                                                               const SplitValues* values) const {
    std::uint64_t count = table.count;
    if (values)
        count = std::min(count, values->capacity);
    if (table.entry_size < 16 || count > max_dict_slots)
        return std::nullopt;
    const auto entry_size = static_cast<std::size_t>(table.entry_size);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(count) * entry_size);
    if (!memory.read(table.address, bytes.data(), bytes.size()))
        return std::nullopt;
    std::vector<std::uint8_t> value_bytes;
    if (values) {
        value_bytes.resize(static_cast<std::size_t>(count) * 8);
        if (!memory.read(values->array, value_bytes.data(), value_bytes.size()))
            return std::nullopt;
    }
    const std::size_t key_at = table.has_hash ? 8 : 0; // {hash, key, value} or {key, value}
    std::vector<DictEntry> entries;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = i * entry_size;
        DictEntry entry;
        entry.index = i;
        entry.hash = table.has_hash ? u64_in(bytes, at) : 0;
        entry.key = u64_in(bytes, at + key_at);
        entry.value = values ? u64_in(value_bytes, i * 8) : u64_in(bytes, at + key_at + 8);
        // Empty slots have no key; deleted ones no value (2.7-3.10 leave a dummy key behind).
        if (entry.key != 0 && entry.value != 0)
            entries.push_back(entry);
    }
    return entries;
}

} // namespace sampler::python

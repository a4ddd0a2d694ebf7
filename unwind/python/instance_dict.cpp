#include "instance_dict.hpp"

#include "struct_bytes.hpp"

namespace sampler::python {
namespace {

// Managed dicts sit in the pre-header, before the object's own fields.
constexpr std::uint64_t managed_dict_before = 3 * 8;
constexpr std::uint64_t managed_values_before = 4 * 8; // 3.11 only
constexpr std::int64_t max_dict_offset = 1 << 16;

std::uint64_t pointer_at(const RemoteMemory& memory, std::uint64_t address) {
    std::uint64_t value = 0;
    return memory.read_value(address, value) ? value : 0;
}

struct TypeFields {
    std::uint64_t flags = 0;
    std::int64_t basicsize = 0;
    std::int64_t dictoffset = 0;
    std::uint64_t cached_keys = 0;
};

std::optional<TypeFields> read_type(const RemoteMemory& memory, const PythonLayout& layout,
                                    std::uint64_t type) {
    const TypeObjectLayout& t = layout.type;
    StructBytes bytes;
    if (type == 0 ||
        !bytes.read(memory, type, FieldRange().add(t.flags, 8).add(t.basicsize, 8).add(t.dictoffset, 8)))
        return std::nullopt;
    TypeFields fields{bytes.u64(t.flags), bytes.i64(t.basicsize), bytes.i64(t.dictoffset), 0};
    if (t.cached_keys != absent)
        fields.cached_keys = pointer_at(memory, type + static_cast<std::uint64_t>(t.cached_keys));
    return fields;
}

std::optional<std::vector<DictEntry>> dict_at(const RemoteMemory& memory, const DictReader& dicts,
                                              std::uint64_t address) {
    std::uint64_t dict = pointer_at(memory, address);
    return dict ? dicts.entries(memory, dict) : std::nullopt;
}

// tp_dictoffset: positive offsets only; negative ones count from the end of variable-size
// objects (int, tuple subclasses), which thread objects are not.
std::optional<std::vector<DictEntry>> dict_at_offset(const RemoteMemory& memory, const DictReader& dicts,
                                                     const TypeFields& type, std::uint64_t object) {
    if (type.dictoffset <= 0 || type.dictoffset > max_dict_offset)
        return std::nullopt;
    return dict_at(memory, dicts, object + static_cast<std::uint64_t>(type.dictoffset));
}

std::optional<std::vector<DictEntry>> inline_values(const RemoteMemory& memory, const DictReader& dicts,
                                                    const PythonLayout& layout, const TypeFields& type,
                                                    std::uint64_t object) {
    const DictLayout& d = layout.dict;
    if (type.basicsize <= 0 || type.basicsize > max_dict_offset || d.values_valid == absent)
        return std::nullopt;
    std::uint64_t values = object + static_cast<std::uint64_t>(type.basicsize);
    StructBytes header;
    if (!header.read(memory, values, FieldRange().add(d.values_capacity, 1).add(d.values_valid, 1)) ||
        header.u8(d.values_valid) == 0)
        return std::nullopt;
    return dicts.split_entries(
        memory, type.cached_keys,
        {values + static_cast<std::uint64_t>(d.values_array), header.u8(d.values_capacity)});
}

} // namespace

std::optional<std::vector<DictEntry>> instance_attributes(const RemoteMemory& memory, const DictReader& dicts,
                                                          const PythonLayout& layout, std::uint64_t object) {
    if (object < managed_values_before || (object & 7) != 0)
        return std::nullopt;
    auto type =
        read_type(memory, layout, pointer_at(memory, object + static_cast<std::uint64_t>(layout.ob_type)));
    if (!type)
        return std::nullopt;
    bool managed = (type->flags & tpflags_managed_dict) != 0;
    switch (layout.type.instance_dict) {
    case InstanceDictModel::dict_offset:
        break;
    case InstanceDictModel::managed_311:
        if (!managed)
            break;
        if (auto dict = dict_at(memory, dicts, object - managed_dict_before))
            return dict;
        return dicts.split_entries(memory, type->cached_keys,
                                   {pointer_at(memory, object - managed_values_before)});
    case InstanceDictModel::dict_or_values: {
        if (!managed)
            break;
        // PyDictOrValues: a dict, or the values' address - 1 (the low bit tells them apart).
        std::uint64_t word = pointer_at(memory, object - managed_dict_before);
        if (word & 1)
            return dicts.split_entries(memory, type->cached_keys, {word + 1});
        return word ? dicts.entries(memory, word) : std::nullopt;
    }
    case InstanceDictModel::inline_values:
        if ((type->flags & tpflags_inline_values) != 0)
            if (auto values = inline_values(memory, dicts, layout, *type, object))
                return values;
        // Values no longer valid (or never inline): the managed dict holds the attributes.
        if (managed)
            return dict_at(memory, dicts, object - managed_dict_before);
        break;
    }
    return dict_at_offset(memory, dicts, *type, object);
}

} // namespace sampler::python

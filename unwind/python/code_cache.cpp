#include "code_cache.hpp"

#include "struct_bytes.hpp"

namespace sampler::python {

FieldRange CodeCache::identity_range() const {
    const PythonLayout& layout = objects_.layout();
    const CodeLayout& c = layout.code;
    FieldRange range;
    range.add(layout.ob_type, 8).add(c.name, 8).add(c.qualname, 8).add(c.filename, 8).add(c.linetable, 8);
    range.add(c.firstlineno, 4).add(c.firsttraceable, 4).add(c.flags, 4);
    return range;
}

std::size_t CodeCache::identity_size() const {
    const FieldRange range = identity_range();
    return static_cast<std::size_t>(range.end - range.begin);
}

bool CodeCache::parse_identity(const StructBytes& bytes, Identity& out) const {
    const PythonLayout& layout = objects_.layout();
    const CodeLayout& c = layout.code;
    out.type = bytes.u64(layout.ob_type);
    out.name = bytes.u64(c.name);
    out.qualname = bytes.u64(c.qualname);
    out.filename = bytes.u64(c.filename);
    out.line_table = bytes.u64(c.linetable);
    out.first_line = bytes.i32(c.firstlineno);
    out.first_traceable = bytes.i32(c.firsttraceable);
    out.flags = bytes.i32(c.flags);
    std::uint64_t expected_type = objects_.types().code;
    return expected_type == 0 || out.type == expected_type;
}

bool CodeCache::read_identity(const RemoteMemory& memory, std::uint64_t address, Identity& out) const {
    StructBytes bytes;
    return objects_.has_type(memory, address, 0) && bytes.read(memory, address, identity_range()) &&
           parse_identity(bytes, out);
}

std::optional<CodeInfo> CodeCache::decode(const RemoteMemory& memory, const Identity& identity) const {
    CodeInfo info;
    auto name = objects_.read_string(memory, identity.qualname != 0 ? identity.qualname : identity.name);
    auto file = objects_.read_string(memory, identity.filename);
    if (!name || !file)
        return std::nullopt;
    info.name = std::move(*name);
    info.file = std::move(*file);
    info.first_line = identity.first_line;
    info.first_traceable = identity.first_traceable;
    // CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
    info.generator = (identity.flags & (0x20 | 0x80 | 0x100 | 0x200)) != 0;
    if (auto table = objects_.read_bytes(memory, identity.line_table, max_line_table_bytes))
        info.line_table = std::move(*table);
    return info;
}

const CodeInfo* CodeCache::lookup(const RemoteMemory& memory, std::uint64_t address) {
    Identity identity;
    if (!read_identity(memory, address, identity))
        return nullptr;
    auto found = entries_.find(address);
    if (found != entries_.end() && found->second.identity == identity)
        return &found->second.info;
    auto info = decode(memory, identity);
    if (!info)
        return nullptr;
    if (found != entries_.end()) {
        found->second = Entry{identity, std::move(*info)};
        return &found->second.info;
    }
    if (entries_.size() >= max_entries)
        entries_.clear();
    return &entries_.emplace(address, Entry{identity, std::move(*info)}).first->second.info;
}

const CodeInfo* CodeCache::lookup_unchecked(const RemoteMemory& memory, std::uint64_t address,
                                            std::vector<std::uint64_t>& unchecked) {
    if (auto found = entries_.find(address); found != entries_.end()) {
        unchecked.push_back(address);
        return &found->second.info;
    }
    return lookup(memory, address);
}

bool CodeCache::confirm(std::uint64_t address, const std::uint8_t* bytes) {
    auto found = entries_.find(address);
    if (found == entries_.end())
        return false;
    StructBytes fields;
    Identity identity;
    if (fields.assign(bytes, identity_range()) && parse_identity(fields, identity) &&
        identity == found->second.identity)
        return true;
    entries_.erase(found);
    return false;
}

} // namespace sampler::python

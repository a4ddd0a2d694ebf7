#pragma once
// Decoded code objects (name, file, first line, line table) by target address. Code objects are
// immutable, so decoding each one once is enough; but an address can be freed and reused by
// another code object, so each lookup re-reads the identifying fields (one read) and decodes
// again when they changed. A reader that checks its reads afterwards anyway can defer that read
// (lookup_unchecked) and batch every frame's into its own check (confirm).

#include "object_reader.hpp"
#include "struct_bytes.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sampler::python {

struct CodeInfo {
    std::string name; // co_qualname (3.11+) or co_name
    std::string file;
    int first_line = 0;
    std::vector<std::uint8_t> line_table; // empty when unreadable: lines are then unknown
    int first_traceable = 0;              // code units before the first traceable one (3.11+)
    bool generator = false;               // a generator's or coroutine's code (<= 3.10: co_flags)
    // Lines already found, by byte offset: a hot loop's few offsets then cost a lookup per
    // sample, not a decode of the table from its start. It belongs to this code object, and
    // goes with it when the cache drops it. Bounded by max_memo_lines.
    static constexpr std::size_t max_memo_lines = 512;
    mutable std::unordered_map<int, std::uint32_t> line_memo;
};

class CodeCache {
  public:
    static constexpr std::size_t max_entries = 8192; // the cache is emptied when it grows past this

    explicit CodeCache(const ObjectReader& objects) : objects_(objects) {}

    // The decoded code object at `address`; nullptr when it is unreadable or not a code object.
    // The pointer is valid until the next call.
    const CodeInfo* lookup(const RemoteMemory& memory, std::uint64_t address);

    // Like lookup, but a code object decoded before is returned without reading anything, and
    // its address is appended to `unchecked`: the caller reads identity_range() at each and
    // passes the bytes to confirm() before trusting the frames built from it.
    const CodeInfo* lookup_unchecked(const RemoteMemory& memory, std::uint64_t address,
                                     std::vector<std::uint64_t>& unchecked);
    // The bytes of a code object that identify it, as offsets into the object.
    FieldRange identity_range() const;
    // How many bytes identity_range() spans: what the caller reads at each address.
    std::size_t identity_size() const;
    // Whether `bytes` (identity_range() read at `address`) still identify the cached code object.
    // When not, its entry is dropped, so the next lookup decodes the new object.
    bool confirm(std::uint64_t address, const std::uint8_t* bytes);

    std::size_t size() const { return entries_.size(); }

  private:
    // The fields whose values identify a code object; a change means another object.
    struct Identity {
        std::uint64_t type = 0, name = 0, qualname = 0, filename = 0, line_table = 0;
        std::int32_t first_line = 0, first_traceable = 0, flags = 0;
        bool operator==(const Identity&) const = default;
    };
    struct Entry {
        Identity identity;
        CodeInfo info;
    };

    bool read_identity(const RemoteMemory& memory, std::uint64_t address, Identity& out) const;
    bool parse_identity(const StructBytes& bytes, Identity& out) const;
    std::optional<CodeInfo> decode(const RemoteMemory& memory, const Identity& identity) const;

    const ObjectReader& objects_;
    std::unordered_map<std::uint64_t, Entry> entries_;
};

} // namespace sampler::python

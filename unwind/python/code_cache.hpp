#pragma once
// Decoded code objects (name, file, first line, line table) by target address. Code objects are
// immutable, so decoding each one once is enough; but an address can be freed and reused by
// another code object, so each lookup re-reads the identifying fields (one read) and decodes
// again when they changed.

#include "object_reader.hpp"

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
};

class CodeCache {
  public:
    static constexpr std::size_t max_entries = 8192; // the cache is emptied when it grows past this

    explicit CodeCache(const ObjectReader& objects) : objects_(objects) {}

    // The decoded code object at `address`; nullptr when it is unreadable or not a code object.
    // The pointer is valid until the next call.
    const CodeInfo* lookup(const RemoteMemory& memory, std::uint64_t address);

    std::size_t size() const { return entries_.size(); }

  private:
    // The fields whose values identify a code object; a change means another object.
    struct Identity {
        std::uint64_t type = 0, name = 0, qualname = 0, filename = 0, line_table = 0;
        std::int32_t first_line = 0, first_traceable = 0;
        bool operator==(const Identity&) const = default;
    };
    struct Entry {
        Identity identity;
        CodeInfo info;
    };

    bool read_identity(const RemoteMemory& memory, std::uint64_t address, Identity& out) const;
    std::optional<CodeInfo> decode(const RemoteMemory& memory, const Identity& identity) const;

    const ObjectReader& objects_;
    std::unordered_map<std::uint64_t, Entry> entries_;
};

} // namespace sampler::python

#pragma once
// Names looked up in the target's interpreter: sys.modules[module].__dict__[name], and string
// keys of dicts (module globals, instance attributes). Every dict read must have the type of
// sys.modules itself (learned on first use), so a stale or wrong pointer is not read as a dict.
// Keys are interned strs: once a key is matched by text, its address is remembered (KeyCache)
// and compared first.

#include "dict_reader.hpp"
#include "object_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sampler::python {

// The addresses of str keys matched before, by text. Bounded by the few names a reader asks for.
class KeyCache {
  public:
    std::uint64_t* slot(std::string_view key) { return &keys_[std::string(key)]; }

  private:
    std::unordered_map<std::string, std::uint64_t> keys_;
};

class ModuleGlobals {
  public:
    explicit ModuleGlobals(const ObjectReader& objects) : objects_(objects) {}

    // sys.modules of interpreter `interp` (a dict); 0 when unreadable. Learns the dict type.
    std::uint64_t modules(const RemoteMemory& memory, std::uint64_t interp);
    // The globals dict of an imported module; nullopt when it is not imported or unreadable.
    std::optional<std::uint64_t> module_dict(const RemoteMemory& memory, std::uint64_t modules,
                                             std::string_view module);
    // sys.modules[module].__dict__[name].
    std::optional<std::uint64_t> global(const RemoteMemory& memory, std::uint64_t modules,
                                        std::string_view module, std::string_view name);

    // The value of str key `key` among `entries`; with `keys`, a key matched before is compared by
    // address first, and a new match remembered.
    std::optional<std::uint64_t> lookup(const RemoteMemory& memory, const std::vector<DictEntry>& entries,
                                        std::string_view key, KeyCache* keys = nullptr) const;

    bool is_dict(const RemoteMemory& memory, std::uint64_t object) const;
    std::uint64_t dict_type() const { return dict_type_; }
    // A reader that checks every dict it reads against the dict type.
    DictReader dicts() const { return DictReader(objects_.layout(), dict_type_); }
    const ObjectReader& objects() const { return objects_; }

  private:
    const ObjectReader& objects_;
    std::uint64_t dict_type_ = 0; // sys.modules' ob_type
    KeyCache keys_;               // module names and globals
};

} // namespace sampler::python

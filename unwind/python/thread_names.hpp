#pragma once
// The names Python's `threading` module gives threads, read out of the target:
// sys.modules["threading"]._active maps each thread's ident (its pthread_t, the thread state's
// thread_id) to its Thread object, whose `_name` (2.7: `_Thread__name`) is a str. Meant to run
// while the target runs: a dict changing under the read yields fewer names (nullopt, or a
// thread left out), never an unbounded read.

#include "dict_reader.hpp"
#include "object_reader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace sampler::python {

inline constexpr std::size_t max_named_threads = 4096; // entries of _active looked at

class ThreadNameReader {
  public:
    explicit ThreadNameReader(const ObjectReader& objects) : objects_(objects) {}

    // ident -> name for the threads of interpreter `interp` whose idents are in `idents`; empty
    // when `threading` is not imported (yet) or cannot be read.
    std::unordered_map<std::uint64_t, std::string> read(const RemoteMemory& memory, std::uint64_t interp,
                                                        const std::unordered_set<std::uint64_t>& idents);

  private:
    std::optional<std::uint64_t> find_active(const RemoteMemory& memory, std::uint64_t interp);
    std::optional<std::uint64_t> module_global(const RemoteMemory& memory, std::uint64_t modules,
                                               const char* module, const char* global);
    std::optional<std::string> thread_name(const RemoteMemory& memory, std::uint64_t thread);
    std::optional<std::uint64_t> lookup(const RemoteMemory& memory, const std::vector<DictEntry>& entries,
                                        std::string_view key, std::uint64_t* known_key = nullptr) const;
    DictReader dicts() const { return DictReader(objects_.layout(), dict_type_); }

    const ObjectReader& objects_;
    std::uint64_t dict_type_ = 0; // sys.modules' ob_type: every dict we read must have it
    // threading._active per interpreter: found once, then checked on every use.
    std::unordered_map<std::uint64_t, std::uint64_t> active_;
    // The interned str of the name attribute, once matched: compared by address before by text.
    std::uint64_t name_key_ = 0;
};

} // namespace sampler::python

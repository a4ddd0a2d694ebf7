#pragma once
// The names Python's `threading` module gives threads, read out of the target:
// sys.modules["threading"]._active maps each thread's ident (its pthread_t, the thread state's
// thread_id) to its Thread object, whose `_name` (2.7: `_Thread__name`) is a str. Meant to run
// while the target runs: a dict changing under the read yields fewer names (nullopt, or a
// thread left out), never an unbounded read.

#include "module_globals.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace sampler::python {

inline constexpr std::size_t max_named_threads = 4096; // entries of _active looked at

class ThreadNameReader {
  public:
    explicit ThreadNameReader(const ObjectReader& objects) : objects_(objects), globals_(objects) {}

    // ident -> name for the threads of interpreter `interp` whose idents are in `idents`; empty
    // when `threading` is not imported (yet) or cannot be read.
    std::unordered_map<std::uint64_t, std::string> read(const RemoteMemory& memory, std::uint64_t interp,
                                                        const std::unordered_set<std::uint64_t>& idents);

  private:
    std::optional<std::uint64_t> find_active(const RemoteMemory& memory, std::uint64_t interp);
    std::optional<std::string> thread_name(const RemoteMemory& memory, std::uint64_t thread);

    const ObjectReader& objects_;
    ModuleGlobals globals_; // every dict we read must have sys.modules' type
    // threading._active per interpreter: found once, then checked on every use.
    std::unordered_map<std::uint64_t, std::uint64_t> active_;
    KeyCache name_key_; // the interned str of the name attribute, once matched
};

} // namespace sampler::python

#pragma once
// The containers and small objects asyncio keeps its tasks in, read out of untrusted target
// memory: sets (a WeakSet holds its weak references in one), lists, tuples, weak references,
// small non-negative ints, bound methods, and objects' types with their names and bases. Every
// size is checked against a bound before anything is allocated or read; garbage yields nullopt
// or 0, never a crash or an unbounded read.

#include "asyncio_layout.hpp"
#include "remote_memory.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sampler::python {

inline constexpr std::uint64_t max_set_slots = 1 << 18;      // larger sets are not read
inline constexpr std::uint64_t max_sequence_items = 1 << 16; // longer lists and tuples are not read
inline constexpr int max_type_depth = 16;                    // bases followed from a type

bool plausible_object(std::uint64_t address);

class ContainerReader {
  public:
    ContainerReader(const PythonLayout& python, const ContainerLayout& layout)
        : python_(python), layout_(layout) {}

    // The keys of the set at `set`, in table order; nullopt when it cannot be read or has more
    // than max_set_slots slots. The object's type is the caller's to check.
    std::optional<std::vector<std::uint64_t>> set_items(const RemoteMemory& memory, std::uint64_t set) const;
    // The items of a list, or of a tuple; nullopt when unreadable or longer than max_sequence_items.
    std::optional<std::vector<std::uint64_t>> list_items(const RemoteMemory& memory,
                                                         std::uint64_t list) const;
    std::optional<std::vector<std::uint64_t>> tuple_items(const RemoteMemory& memory,
                                                          std::uint64_t tuple) const;
    // What a weak reference points at (Py_None once its referent died); 0 when unreadable.
    std::uint64_t weakref_target(const RemoteMemory& memory, std::uint64_t ref) const;
    // The value of an int in [0, 2**64); nullopt for a negative or larger one, or an unreadable.
    std::optional<std::uint64_t> small_int(const RemoteMemory& memory, std::uint64_t object) const;
    // A bound method's self; 0 when unreadable.
    std::uint64_t method_self(const RemoteMemory& memory, std::uint64_t method) const;
    // An object's type (ob_type), a type's base (tp_base); 0 when unreadable.
    std::uint64_t type_of(const RemoteMemory& memory, std::uint64_t object) const;
    std::uint64_t base_of(const RemoteMemory& memory, std::uint64_t type) const;

  private:
    std::optional<std::vector<std::uint64_t>> read_items(const RemoteMemory& memory, std::uint64_t items,
                                                         std::int64_t size) const;

    const PythonLayout& python_;
    const ContainerLayout& layout_;
};

// Type objects' names (tp_name), by address, read once each: the reader classifies every object
// it meets by its type. Bounded; `forget()` it when the target may have freed heap types.
class TypeNames {
  public:
    static constexpr std::size_t max_entries = 4096;
    static constexpr std::size_t max_name = 64; // longer names are cut

    // The name of the type at `type`; empty when it cannot be read.
    const std::string& name(const RemoteMemory& memory, std::uint64_t type);
    void forget() { names_.clear(); }

  private:
    std::unordered_map<std::uint64_t, std::string> names_;
};

} // namespace sampler::python

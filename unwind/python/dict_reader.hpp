#pragma once
// Dicts read out of untrusted target memory, in each CPython layout: 2.7's open table, 3.6-3.10's
// indexed keys, 3.11+'s keys of general or unicode kind; combined, or split (the values held
// apart, as instances sharing their class's keys do). Every size is checked against the
// layout's own invariants and a fixed bound before anything is allocated or read, so garbage
// yields nullopt or a few wrong entries, never a crash or an unbounded read.

#include "python_layout.hpp"
#include "remote_memory.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace sampler::python {

inline constexpr std::uint64_t max_dict_slots = 1 << 16; // larger hash tables are not read

struct DictEntry {
    std::uint64_t index = 0; // position in the entry table
    std::uint64_t hash = 0;  // me_hash; 0 in unicode-kind tables, which do not store it
    std::uint64_t key = 0;
    std::uint64_t value = 0;
};

// Where a split table's values live: values[i] belongs to entry i.
struct SplitValues {
    std::uint64_t array = 0;                 // the address of values[0]
    std::uint64_t capacity = max_dict_slots; // how many the array holds, where recorded (3.13+)
};

class DictReader {
  public:
    // `dict_type`: the dict type object's address, to check ob_type; 0 = not checked.
    explicit DictReader(const PythonLayout& layout, std::uint64_t dict_type = 0)
        : layout_(layout), dict_type_(dict_type) {}

    // The live entries of the dict object at `dict`, in entry order; nullopt when unreadable.
    std::optional<std::vector<DictEntry>> entries(const RemoteMemory& memory, std::uint64_t dict) const;

    // The live entries of a keys object (3.6+) whose values live in `values`.
    std::optional<std::vector<DictEntry>> split_entries(const RemoteMemory& memory, std::uint64_t keys,
                                                        const SplitValues& values) const;

  private:
    struct EntryTable {
        std::uint64_t address = 0;
        std::uint64_t count = 0;
        int entry_size = 0;
        bool has_hash = true;
    };

    std::optional<std::vector<DictEntry>> open_table(const RemoteMemory& memory, std::uint64_t dict) const;
    std::optional<EntryTable> entry_table(const RemoteMemory& memory, std::uint64_t keys) const;
    std::optional<EntryTable> indexed_keys(const RemoteMemory& memory, std::uint64_t keys) const;
    std::optional<EntryTable> kinds_keys(const RemoteMemory& memory, std::uint64_t keys) const;
    std::optional<std::vector<DictEntry>> read_entries(const RemoteMemory& memory, const EntryTable& table,
                                                       const SplitValues* values) const;

    const PythonLayout& layout_;
    std::uint64_t dict_type_;
};

} // namespace sampler::python

#pragma once
// A module's function symbols sorted by address, for name lookups by binary search.
// dwfl_module_addrinfo searches the whole symbol table at every call; with --native, every new
// address a sample brings (a leaf anywhere in libpython, say) is such a call, and together they
// were a third of sampler's own CPU.

#include <cstdint>
#include <optional>
#include <vector>

typedef struct Dwfl_Module Dwfl_Module;

namespace sampler {

class FunctionSymbols {
  public:
    // Reads the module's symbol table (.symtab, else .dynsym) once.
    explicit FunctionSymbols(Dwfl_Module* module);

    struct Hit {
        const char* name;    // owned by libdwfl: valid as long as its Dwfl
        std::uint64_t start; // run-time address
        std::uint64_t size;
    };
    // The sized function symbol containing run-time address `address`, preferring a global
    // name to a weak one to a local one at the same address; nullopt when none does.
    std::optional<Hit> find(std::uint64_t address) const;

    std::size_t size() const { return symbols_.size(); }

  private:
    struct Symbol {
        std::uint64_t start;
        std::uint64_t size;
        const char* name;
        int rank; // local 0, weak 1, global 2
    };
    std::vector<Symbol> symbols_; // by start, then rank
};

} // namespace sampler

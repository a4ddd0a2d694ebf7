#pragma once
// A module's function symbols sorted by address, for name lookups by binary search.
// dwfl_module_addrinfo searches the whole symbol table at every call; with --native, every new
// address a sample brings (a leaf anywhere in libpython, say) is such a call, and together they
// were a third of sampler's own CPU.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

typedef struct Dwfl_Module Dwfl_Module;

namespace sampler {

class FunctionSymbols {
  public:
    // Reads the module's symbol table (.symtab, else .dynsym) once, and names its PLT stubs.
    explicit FunctionSymbols(Dwfl_Module* module);

    struct Hit {
        const char* name;    // valid as long as its Dwfl and this
        std::uint64_t start; // run-time address
        std::uint64_t size;
        bool plt_stub; // `name` is the function the stub jumps to
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
        bool plt_stub = false;
    };
    std::vector<Symbol> symbols_;        // by start, then rank
    std::deque<std::string> stub_names_; // the PLT stubs' names (libdwfl owns the others)
};

} // namespace sampler

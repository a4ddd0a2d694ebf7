#pragma once
// A module's PLT stubs, named after the function each jumps to ("getpid@plt", as perf shows
// them). A stub has no symbol of its own, and a sample stopped in one would show as a bare
// module offset; but its indirect jump reads a GOT slot, and a dynamic relocation names the
// symbol that slot is bound to. x86-64 only: .plt, .plt.sec and .plt.got.

#include <cstdint>
#include <string>
#include <vector>

typedef struct Dwfl_Module Dwfl_Module;

namespace sampler {

struct PltStub {
    std::uint64_t start = 0; // run-time address
    std::uint64_t size = 0;
    std::string target; // the symbol the stub jumps to, as the relocation names it
};

// From the module's main ELF file. The file is untrusted: every table is read through libelf's
// bounds-checked accessors, and a malformed one yields fewer stubs, never an error.
std::vector<PltStub> plt_stubs(Dwfl_Module* module);

} // namespace sampler

#pragma once
// Turns code addresses of one target into frames with libdwfl: demangled names, source lines,
// inlined calls expanded into frames of their own. Results are cached per (module, offset) and
// every module is reported to libdwfl once per run.

#include "function_symbols.hpp"
#include "module_map.hpp"
#include "sampler/direct_mapped_cache.hpp"
#include "sampler/frame.hpp"
#include "scope_index.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

typedef struct Dwfl Dwfl;
typedef struct Elf Elf;

namespace sampler {

// A module reported to libdwfl through the run's shared handle of its file (SharedElfFiles):
// libdwfl takes the reference when it first needs the file (its find_elf callback); one it
// never took is given back when this goes, and then the claim on the file (after the Dwfl has
// ended the references it took).
struct SharedModuleFile {
    std::string open_path;
    Elf* elf = nullptr;    // the reference, until libdwfl takes it
    Elf* handle = nullptr; // the shared handle, for SharedElfFiles::release
    explicit SharedModuleFile(std::string path, Elf* reference)
        : open_path(std::move(path)), elf(reference), handle(reference) {}
    ~SharedModuleFile();
    SharedModuleFile(const SharedModuleFile&) = delete;
    SharedModuleFile& operator=(const SharedModuleFile&) = delete;
};

class Symbolizer {
  public:
    explicit Symbolizer(const ModuleMap& modules);
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // Frames for the code at `address`, innermost first (inline frames before their caller).
    // For a return address (every frame but the innermost) the call instruction is looked up.
    const std::vector<Frame>& frames_for(std::uint64_t address, bool is_return_address);

    std::size_t cache_size() const;

    // Reads the module's debug information now (for a large library, decompressing it takes a
    // tenth of a second), rather than on the first sample in it.
    void load_debug_info(const Module& module);

    // Functions whose frames get only their symbol: no lines, no inline frames. For an
    // interpreter's eval loop, which --native replaces with Python frames anyway: it is huge,
    // every instruction in it is a distinct address, and looking each up in DWARF dominated
    // sampler's own CPU.
    void set_names_only(std::set<std::string> functions) { names_only_ = std::move(functions); }

  private:
    // frames_for without the recent-address cache in front.
    const std::vector<Frame>& lookup_frames(std::uint64_t address, bool is_return_address);

    // A function resolved by name only (set_names_only), by its range in its module: any other
    // address in it then costs a range lookup, not a symbol table search.
    struct NamesOnlyRange {
        std::uint64_t end = 0; // module offsets [key, end)
        Frame frame;           // as resolved for the range's start
    };
    // Everything resolved in one module (by path), keyed by (module offset << 1 | is_return).
    struct ModuleCache {
        std::unordered_map<std::uint64_t, std::vector<Frame>> frames;
        std::map<std::uint64_t, NamesOnlyRange> names_only;
    };

    std::vector<Frame> resolve(const Module& module, std::uint64_t address, std::uint64_t lookup,
                               ModuleCache& cache);
    static std::vector<Frame> in_names_only_range(const ModuleCache& cache, const Module& module,
                                                  std::uint64_t address, std::uint64_t lookup);
    bool ensure_reported(const Module& module);
    const ScopeIndex& scope_index(Dwarf_Die* cu); // built on first use

    struct DwflCloser {
        void operator()(Dwfl* dwfl) const;
    };

    // Modules reported through the run's shared handles of their files (a libdwfl module's
    // user data); destroyed after dwfl_, which gives back the references it took.
    std::deque<SharedModuleFile> shared_files_;

    const ModuleMap& modules_;
    std::unique_ptr<Dwfl, DwflCloser> dwfl_;
    std::set<std::pair<std::string, std::uint64_t>> reported_; // (path, bias)
    std::unordered_map<std::string, ModuleCache> cache_;
    std::unordered_map<const Dwfl_Module*, FunctionSymbols> function_symbols_; // built on first use
    const std::string* last_path_ = nullptr; // the module of the last lookup, and its cache
    ModuleCache* last_cache_ = nullptr;
    std::map<std::uint64_t, std::vector<Frame>> unknown_cache_;
    // In front of both, by run-time address (address << 1 | is_return_address): the frames of
    // the addresses every sample repeats, for as long as the modules stay where they are.
    DirectMappedCache<const std::vector<Frame>*, 10> recent_;
    std::uint64_t recent_generation_ = 0;
    std::set<std::string> names_only_;
    // By (Dwarf handle, unit offset); the handles live as long as dwfl_.
    std::map<std::pair<const void*, std::uint64_t>, std::unique_ptr<ScopeIndex>> scope_indexes_;
};

// Demangles a C++/Rust symbol; returns the input unchanged when it is not mangled.
std::string demangle(const char* symbol);
// Drops an ELF symbol version suffix (`name@@GLIBC_2.34`, `name@VER`).
std::string strip_symbol_version(const char* symbol);

} // namespace sampler

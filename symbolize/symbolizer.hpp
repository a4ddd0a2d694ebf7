#pragma once
// Turns code addresses of one target into frames with libdwfl: demangled names, source lines,
// inlined calls expanded into frames of their own. Results are cached per (module, offset) and
// every module is reported to libdwfl once per run.

#include "module_map.hpp"
#include "sampler/frame.hpp"
#include "scope_index.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

typedef struct Dwfl Dwfl;

namespace sampler {

class Symbolizer {
  public:
    explicit Symbolizer(const ModuleMap& modules);
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // Frames for the code at `address`, innermost first (inline frames before their caller).
    // For a return address (every frame but the innermost) the call instruction is looked up.
    const std::vector<Frame>& frames_for(std::uint64_t address, bool is_return_address);

    std::size_t cache_size() const { return cache_.size(); }

    // Functions whose frames get only their symbol: no lines, no inline frames. For an
    // interpreter's eval loop, which --native replaces with Python frames anyway: it is huge,
    // every instruction in it is a distinct address, and looking each up in DWARF dominated
    // sampler's own CPU.
    void set_names_only(std::set<std::string> functions) { names_only_ = std::move(functions); }

  private:
    std::vector<Frame> resolve(const Module& module, std::uint64_t address, std::uint64_t lookup);
    bool ensure_reported(const Module& module);
    const ScopeIndex& scope_index(Dwarf_Die* cu); // built on first use

    struct DwflCloser {
        void operator()(Dwfl* dwfl) const;
    };

    const ModuleMap& modules_;
    std::unique_ptr<Dwfl, DwflCloser> dwfl_;
    std::set<std::pair<std::string, std::uint64_t>> reported_; // (path, bias)
    std::map<std::tuple<std::string, std::uint64_t, bool>, std::vector<Frame>> cache_;
    std::map<std::uint64_t, std::vector<Frame>> unknown_cache_;
    std::set<std::string> names_only_;
    // By (Dwarf handle, unit offset); the handles live as long as dwfl_.
    std::map<std::pair<const void*, std::uint64_t>, std::unique_ptr<ScopeIndex>> scope_indexes_;
};

// Demangles a C++/Rust symbol; returns the input unchanged when it is not mangled.
std::string demangle(const char* symbol);
// Drops an ELF symbol version suffix (`name@@GLIBC_2.34`, `name@VER`).
std::string strip_symbol_version(const char* symbol);

} // namespace sampler

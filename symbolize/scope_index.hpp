#pragma once
// The code scopes of one DWARF compilation unit (functions, inlined calls, lexical blocks) by
// address, built by one walk over the unit's DIEs. libdw's dwarf_getscopes and
// dwarf_getscopes_die walk the unit on every lookup, which made symbolizing the distinct
// addresses of a large unit (CPython's ceval.c, say) most of sampler's own CPU time; here a
// lookup follows parent links from a binary search.

#include <cstdint>
#include <elfutils/libdw.h>
#include <vector>

namespace sampler {

class ScopeIndex {
  public:
    // Walks the unit `cu` (at most `max_dies` DIEs: a corrupt or absurd unit is indexed in part).
    explicit ScopeIndex(Dwarf_Die* cu, std::size_t max_dies = 4'000'000);

    // The DIEs of the scopes holding `address` (a DWARF address), innermost first, up to and
    // including the innermost subprogram: inlined calls and lexical blocks, then the function.
    // Empty when no function of the unit holds the address.
    std::vector<Dwarf_Die> scopes_at(Dwarf_Addr address) const;

    std::size_t range_count() const { return ranges_.size(); }

  private:
    struct Node {
        Dwarf_Off offset = 0; // of the DIE in .debug_info
        int tag = 0;
        std::int32_t parent = -1; // index in nodes_ of the nearest enclosing scope
    };
    struct Range {
        Dwarf_Addr low = 0, high = 0; // [low, high)
        std::uint32_t node = 0;
        std::uint32_t depth = 0;
        std::int32_t enclosing = -1; // index in ranges_ of the innermost range holding this one
    };

    void walk(Dwarf_Die* cu, std::size_t max_dies);
    void link_ranges();

    Dwarf* dwarf_ = nullptr;
    std::vector<Node> nodes_;
    std::vector<Range> ranges_; // sorted by (low, depth)
};

} // namespace sampler

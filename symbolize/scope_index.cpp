#include "scope_index.hpp"

#include <algorithm>
#include <dwarf.h>

namespace sampler {
namespace {

bool is_code_scope(int tag) {
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block;
}

} // namespace

ScopeIndex::ScopeIndex(Dwarf_Die* cu, std::size_t max_dies) : dwarf_(dwarf_cu_getdwarf(cu->cu)) {
    walk(cu, max_dies);
    link_ranges();
}

void ScopeIndex::walk(Dwarf_Die* cu, std::size_t max_dies) {
    // Depth-first over every DIE, iteratively: subprograms can sit inside namespaces and
    // classes, and nesting depth is the input's to choose.
    struct Level {
        Dwarf_Die die;
        std::int32_t scope;  // nearest enclosing code scope (index in nodes_), -1 for none
        std::uint32_t depth; // code scopes above
    };
    std::vector<Level> stack;
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0)
        return;
    stack.push_back({child, -1, 0});
    std::size_t visited = 0;
    while (!stack.empty() && visited++ < max_dies) {
        Level level = stack.back();
        stack.pop_back();
        // Its next sibling continues at this level once the subtree below is done.
        Dwarf_Die sibling;
        if (dwarf_siblingof(&level.die, &sibling) == 0)
            stack.push_back({sibling, level.scope, level.depth});

        std::int32_t scope = level.scope;
        std::uint32_t depth = level.depth;
        const int tag = dwarf_tag(&level.die);
        if (is_code_scope(tag)) {
            const auto node = static_cast<std::uint32_t>(nodes_.size());
            nodes_.push_back({dwarf_dieoffset(&level.die), tag, level.scope});
            Dwarf_Addr base = 0, start = 0, end = 0;
            std::ptrdiff_t offset = 0;
            // dwarf_ranges covers DW_AT_low_pc/high_pc and DW_AT_ranges alike.
            for (int ranges = 0;
                 ranges < 100000 && (offset = dwarf_ranges(&level.die, offset, &base, &start, &end)) > 0;
                 ++ranges)
                // A function the linker discarded (a duplicate inline or template instance) keeps
                // its DWARF with its start set to 0 (or -1/-2 by newer linkers): not code.
                if (end > start && start != 0 && start < ~Dwarf_Addr(1))
                    ranges_.push_back({start, end, node, depth, -1});
            scope = static_cast<std::int32_t>(node);
            ++depth;
        }
        if (dwarf_haschildren(&level.die) > 0 && dwarf_child(&level.die, &child) == 0)
            stack.push_back({child, scope, depth});
    }
}

void ScopeIndex::link_ranges() {
    std::sort(ranges_.begin(), ranges_.end(), [](const Range& a, const Range& b) {
        return a.low != b.low ? a.low < b.low : a.depth < b.depth;
    });
    // A sweep in address order with a stack of the ranges still open: the top one that is still
    // open at a range's start holds it (ranges of well-formed DWARF nest).
    std::vector<std::int32_t> open;
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
        while (!open.empty() && ranges_[open.back()].high <= ranges_[i].low)
            open.pop_back();
        ranges_[i].enclosing = open.empty() ? -1 : open.back();
        open.push_back(static_cast<std::int32_t>(i));
    }
}

std::vector<Dwarf_Die> ScopeIndex::scopes_at(Dwarf_Addr address) const {
    std::vector<Dwarf_Die> scopes;
    auto after = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                                  [](Dwarf_Addr value, const Range& range) { return value < range.low; });
    if (after == ranges_.begin())
        return scopes;
    // The last range starting at or before the address; if it ends before it, no range between
    // it and the one enclosing it can hold the address (they end before it starts).
    auto index = static_cast<std::int32_t>(after - ranges_.begin()) - 1;
    for (std::size_t steps = 0; index >= 0 && steps < ranges_.size(); ++steps) {
        if (ranges_[index].high > address)
            break;
        index = ranges_[index].enclosing;
    }
    if (index < 0 || ranges_[index].high <= address)
        return scopes;
    for (std::int32_t node = static_cast<std::int32_t>(ranges_[index].node); node >= 0;) {
        Dwarf_Die die;
        if (!dwarf_offdie(dwarf_, nodes_[node].offset, &die))
            return {};
        scopes.push_back(die);
        if (nodes_[node].tag == DW_TAG_subprogram)
            return scopes;
        if (scopes.size() > nodes_.size())
            return {};
        node = nodes_[node].parent;
    }
    return {}; // an inlined call or block outside any function: not a place we can name
}

} // namespace sampler

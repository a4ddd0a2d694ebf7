// ScopeIndex against libdw's own lookup (dwarf_getscopes + dwarf_getscopes_die, which walk the
// whole unit): for many addresses of this test binary's optimised, inlining-heavy units, both
// must name the same chain of scopes up to the function.
#include <catch2/catch.hpp>

#include "scope_index.hpp"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <memory>
#include <string>
#include <vector>

using namespace sampler;

namespace {

std::vector<Dwarf_Off> chain_by_walking(Dwarf_Die* cu, Dwarf_Addr address) {
    std::vector<Dwarf_Off> chain;
    Dwarf_Die* innermost = nullptr;
    Dwarf_Die* scopes = nullptr;
    int count = 0;
    if (dwarf_getscopes(cu, address, &innermost) > 0)
        count = dwarf_getscopes_die(&innermost[0], &scopes);
    for (int i = 0; i < count; ++i) {
        const int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine && tag != DW_TAG_lexical_block)
            continue;
        chain.push_back(dwarf_dieoffset(&scopes[i]));
        if (tag == DW_TAG_subprogram)
            break;
    }
    std::free(innermost);
    std::free(scopes);
    if (!chain.empty() && chain.size() > 0) {
        Dwarf_Die last;
        if (dwarf_offdie(dwarf_cu_getdwarf(cu->cu), chain.back(), &last) &&
            dwarf_tag(&last) != DW_TAG_subprogram)
            chain.clear(); // no function holds it: the index gives nothing either
    }
    return chain;
}

std::vector<Dwarf_Off> chain_by_index(const ScopeIndex& index, Dwarf_Addr address) {
    std::vector<Dwarf_Off> chain;
    for (Dwarf_Die die : index.scopes_at(address))
        chain.push_back(dwarf_dieoffset(&die));
    return chain;
}

} // namespace

TEST_CASE("scope index finds the same scopes as libdw's walk", "[symbolize][scope_index]") {
    char* debuginfo_path = nullptr;
    const Dwfl_Callbacks callbacks = {.find_elf = nullptr,
                                      .find_debuginfo = dwfl_standard_find_debuginfo,
                                      .section_address = dwfl_offline_section_address,
                                      .debuginfo_path = &debuginfo_path};
    // Ended even when a REQUIRE below fails.
    const std::unique_ptr<Dwfl, void (*)(Dwfl*)> owner(dwfl_begin(&callbacks), dwfl_end);
    Dwfl* dwfl = owner.get();
    REQUIRE(dwfl);
    Dwfl_Module* module = dwfl_report_offline(dwfl, "self", "/proc/self/exe", -1);
    REQUIRE(module);
    dwfl_report_end(dwfl, nullptr, nullptr);
    Dwarf_Addr bias = 0;
    Dwarf* dwarf = dwfl_module_getdwarf(module, &bias);
    REQUIRE(dwarf);

    std::size_t units = 0, compared = 0, with_inline = 0;
    Dwarf_Off offset = 0, next = 0;
    std::size_t header_size = 0;
    while (dwarf_nextcu(dwarf, offset, &next, &header_size, nullptr, nullptr, nullptr) == 0 &&
           compared < 800) {
        Dwarf_Die cu;
        const Dwarf_Off die_offset = offset + header_size;
        offset = next;
        if (!dwarf_offdie(dwarf, die_offset, &cu))
            continue;
        const char* name = dwarf_diename(&cu);
        // Our own optimised code, which inlines the standard library heavily.
        if (!name || (std::string(name).find("/symbolize/") == std::string::npos &&
                      std::string(name).find("/output/") == std::string::npos))
            continue;
        ScopeIndex index(&cu);
        ++units;
        const std::size_t unit_limit = compared + 150; // spread the comparisons over several units
        Dwarf_Addr base = 0, start = 0, end = 0;
        std::ptrdiff_t range = 0;
        while ((range = dwarf_ranges(&cu, range, &base, &start, &end)) > 0 && compared < unit_limit) {
            if (start == 0)
                continue; // code the linker discarded (see ScopeIndex)
            for (Dwarf_Addr address = start; address < end && compared < unit_limit; address += 61) {
                const auto expected = chain_by_walking(&cu, address);
                INFO("unit " << name << " address 0x" << std::hex << address);
                const std::vector<Dwarf_Die> found = index.scopes_at(address);
                if (expected.empty() && !found.empty()) {
                    // libdw's walk does not look inside types, where GCC may put a lambda's
                    // operator() (at -O0, say): the index does. Its answer must still hold.
                    Dwarf_Die function = found.back();
                    CHECK(dwarf_tag(&function) == DW_TAG_subprogram);
                    CHECK(dwarf_haspc(&function, address) == 1);
                } else {
                    CHECK(chain_by_index(index, address) == expected);
                }
                with_inline += expected.size() > 1;
                ++compared;
            }
        }
    }
    CHECK(units >= 3);
    CHECK(compared >= 800);
#ifdef __OPTIMIZE__
    CHECK(with_inline > 30); // the comparison covered inlined calls, not only flat functions
#endif
}

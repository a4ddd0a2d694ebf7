#include "function_symbols.hpp"

#include "plt_stubs.hpp"

#include <algorithm>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <string_view>

namespace sampler {
namespace {

int binding_rank(unsigned char info) {
    switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
        return 2;
    case STB_WEAK:
        return 1;
    default:
        return 0;
    }
}

bool is_code(unsigned char info) {
    const int type = GELF_ST_TYPE(info);
    return type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE;
}

// Whether `a` reads as less of a public name than `b`: more leading underscores (an internal
// alias), else longer, else later in byte order (any fixed order will do).
bool less_public(std::string_view a, std::string_view b) {
    const auto underscores = [](std::string_view name) { return name.find_first_not_of('_'); };
    if (underscores(a) != underscores(b))
        return underscores(a) > underscores(b);
    if (a.size() != b.size())
        return a.size() > b.size();
    return a > b;
}

} // namespace

FunctionSymbols::FunctionSymbols(Dwfl_Module* module) {
    const int count = module ? dwfl_module_getsymtab(module) : -1;
    for (int i = 1; i < count; ++i) { // entry 0 is the null symbol
        GElf_Sym symbol;
        GElf_Addr address = 0;
        GElf_Word section = 0;
        const char* name = dwfl_module_getsym_info(module, i, &symbol, &address, &section, nullptr, nullptr);
        if (!name || *name == '\0' || section == SHN_UNDEF || symbol.st_size == 0 || !is_code(symbol.st_info))
            continue;
        symbols_.push_back({address, symbol.st_size, name, binding_rank(symbol.st_info)});
    }
    for (PltStub& stub : plt_stubs(module)) {
        stub_names_.push_back(std::move(stub.target));
        symbols_.push_back({stub.start, stub.size, stub_names_.back().c_str(), 0, true});
    }
    // find() takes the last of a start's names: the best-ranked, and among aliases of one rank
    // (clock_gettime and __clock_gettime) the public one, whatever order the table had them in.
    std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
        if (a.start != b.start)
            return a.start < b.start;
        if (a.rank != b.rank)
            return a.rank < b.rank;
        return less_public(a.name, b.name);
    });
}

std::optional<FunctionSymbols::Hit> FunctionSymbols::find(std::uint64_t address) const {
    auto after =
        std::upper_bound(symbols_.begin(), symbols_.end(), address,
                         [](std::uint64_t value, const Symbol& symbol) { return value < symbol.start; });
    // Walking back from the last symbol starting at or before `address` meets the best-ranked
    // name of that start first. Symbols nested in a larger one are few: a short walk suffices.
    constexpr int max_steps = 16;
    for (int step = 0; step < max_steps && after != symbols_.begin(); ++step) {
        --after;
        if (address - after->start < after->size)
            return Hit{after->name, after->start, after->size, after->plt_stub};
    }
    return std::nullopt;
}

} // namespace sampler

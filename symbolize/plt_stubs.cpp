#include "plt_stubs.hpp"

#include <cstring>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <string_view>
#include <unordered_map>

namespace sampler {
namespace {

// Bounds for a file that claims absurd sizes: far above any real library's.
constexpr std::size_t max_relocations = 1 << 20;
constexpr std::size_t max_stubs = 1 << 18;

using SlotNames = std::unordered_map<std::uint64_t, std::string>; // GOT slot (link-time) -> symbol

// The symbols the JUMP_SLOT and GLOB_DAT relocations of one SHT_RELA section bind their slots to.
void add_slot_names(Elf* elf, Elf_Scn* section, const GElf_Shdr& header, SlotNames& names) {
    Elf_Scn* symbols = elf_getscn(elf, header.sh_link);
    GElf_Shdr symbols_header;
    if (!symbols || !gelf_getshdr(symbols, &symbols_header))
        return;
    Elf_Data* relocations = elf_getdata(section, nullptr);
    Elf_Data* symbol_data = elf_getdata(symbols, nullptr);
    if (!relocations || !symbol_data || header.sh_entsize == 0)
        return;
    const std::size_t count = std::min<std::size_t>(relocations->d_size / header.sh_entsize, max_relocations);
    for (std::size_t i = 0; i < count; ++i) {
        GElf_Rela relocation;
        if (!gelf_getrela(relocations, static_cast<int>(i), &relocation))
            break;
        const auto type = GELF_R_TYPE(relocation.r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
            continue;
        GElf_Sym symbol;
        if (!gelf_getsym(symbol_data, static_cast<int>(GELF_R_SYM(relocation.r_info)), &symbol))
            continue;
        const char* name = elf_strptr(elf, symbols_header.sh_link, symbol.st_name);
        if (name && *name)
            names.try_emplace(relocation.r_offset, name);
    }
}

// The GOT slot a stub's indirect jump reads: `jmp *disp32(%rip)` (ff 25), after an endbr64
// and a bnd prefix when the stub has them. 0 when the entry has no such jump (the lazy
// binding's PLT0, or .plt entries that push and jump back when .plt.sec has the stubs).
std::uint64_t jump_slot(const std::uint8_t* entry, std::size_t size, std::uint64_t address) {
    for (std::size_t at = 0; at + 6 <= size && at <= 5; ++at)
        if (entry[at] == 0xff && entry[at + 1] == 0x25) {
            std::int32_t displacement = 0;
            std::memcpy(&displacement, entry + at + 2, sizeof displacement);
            return address + at + 6 + static_cast<std::int64_t>(displacement);
        }
    return 0;
}

bool is_stub_section(std::string_view name) {
    return name == ".plt" || name == ".plt.sec" || name == ".plt.got";
}

} // namespace

std::vector<PltStub> plt_stubs(Dwfl_Module* module) {
    std::vector<PltStub> stubs;
    GElf_Addr bias = 0;
    Elf* elf = module ? dwfl_module_getelf(module, &bias) : nullptr;
    GElf_Ehdr elf_header;
    std::size_t section_names = 0;
    if (!elf || !gelf_getehdr(elf, &elf_header) || elf_header.e_machine != EM_X86_64 ||
        elf_getshdrstrndx(elf, &section_names) != 0)
        return stubs;
    SlotNames slot_names;
    std::vector<Elf_Scn*> stub_sections;
    for (Elf_Scn* section = nullptr; (section = elf_nextscn(elf, section)) != nullptr;) {
        GElf_Shdr header;
        if (!gelf_getshdr(section, &header))
            continue;
        const char* name = elf_strptr(elf, section_names, header.sh_name);
        if (header.sh_type == SHT_RELA)
            add_slot_names(elf, section, header, slot_names);
        else if (name && header.sh_type == SHT_PROGBITS && (header.sh_flags & SHF_EXECINSTR) &&
                 is_stub_section(name))
            stub_sections.push_back(section);
    }
    for (Elf_Scn* section : stub_sections) {
        GElf_Shdr header;
        Elf_Data* data = elf_getdata(section, nullptr);
        if (!gelf_getshdr(section, &header) || !data || !data->d_buf)
            continue;
        // .plt.got's entries are 8 bytes (16 with IBT); the others', 16.
        const std::uint64_t entry_size =
            header.sh_entsize == 8 || header.sh_entsize == 16 ? header.sh_entsize : 16;
        const auto* bytes = static_cast<const std::uint8_t*>(data->d_buf);
        for (std::uint64_t offset = 0; offset + entry_size <= data->d_size && stubs.size() < max_stubs;
             offset += entry_size) {
            const std::uint64_t address = header.sh_addr + offset;
            const std::uint64_t slot = jump_slot(bytes + offset, entry_size, address);
            if (auto named = slot_names.find(slot); slot != 0 && named != slot_names.end())
                stubs.push_back({address + bias, entry_size, named->second});
        }
    }
    return stubs;
}

} // namespace sampler

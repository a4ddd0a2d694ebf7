#include "elf_symbols.hpp"
#include "untrusted_bytes.hpp"

#include <cstring>
#include <elf.h>

namespace sampler {
namespace {

// A NUL-terminated name inside [table_offset, table_offset + table_size) of the file.
std::string_view string_at(std::span<const std::uint8_t> bytes, std::uint64_t table_offset,
                           std::uint64_t table_size, std::uint64_t index) {
    if (table_offset > bytes.size())
        return {};
    std::uint64_t table_end = table_offset + std::min<std::uint64_t>(table_size, bytes.size() - table_offset);
    if (index >= table_end - table_offset)
        return {};
    const char* begin = reinterpret_cast<const char*>(bytes.data() + table_offset + index);
    std::size_t limit = static_cast<std::size_t>(table_end - table_offset - index);
    std::size_t length = strnlen(begin, limit);
    if (length == limit)
        return {}; // not terminated inside its table
    return {begin, length};
}

constexpr std::uint16_t max_sections = 4096; // far above any real file; bounds the parse

} // namespace

ElfSymbols::ElfSymbols(std::shared_ptr<const ElfImage> image) : image_(std::move(image)) {
    if (!image_)
        return;
    std::span<const std::uint8_t> bytes = image_->bytes();
    auto header = read_at<Elf64_Ehdr>(bytes, 0);
    if (!header || header->e_shoff == 0 || header->e_shentsize != sizeof(Elf64_Shdr) ||
        header->e_shnum == 0 || header->e_shnum > max_sections)
        return;
    std::vector<Elf64_Shdr> raw;
    for (std::uint16_t i = 0; i < header->e_shnum; ++i) {
        auto section = read_at<Elf64_Shdr>(bytes, header->e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr));
        if (!section)
            return;
        raw.push_back(*section);
    }
    const Elf64_Shdr* names = header->e_shstrndx < raw.size() ? &raw[header->e_shstrndx] : nullptr;
    for (const Elf64_Shdr& s : raw) {
        ElfSection section;
        if (names)
            section.name = std::string(string_at(bytes, names->sh_offset, names->sh_size, s.sh_name));
        section.type = s.sh_type;
        section.flags = s.sh_flags;
        section.address = s.sh_addr;
        section.offset = s.sh_offset;
        section.size = s.sh_size;
        section.link = s.sh_link;
        section.entry_size = s.sh_entsize;
        sections_.push_back(std::move(section));
    }
}

const ElfSection* ElfSymbols::section(std::string_view name) const {
    for (const ElfSection& s : sections_)
        if (s.name == name)
            return &s;
    return nullptr;
}

std::optional<ElfSymbol> ElfSymbols::find(std::string_view name) const {
    for (std::uint32_t wanted : {std::uint32_t{SHT_SYMTAB}, std::uint32_t{SHT_DYNSYM}})
        for (const ElfSection& table : sections_)
            if (table.type == wanted)
                if (auto found = find_in(table, name))
                    return found;
    return std::nullopt;
}

std::optional<ElfSymbol> ElfSymbols::find_in(const ElfSection& table, std::string_view name) const {
    if (table.link >= sections_.size() || table.entry_size != sizeof(Elf64_Sym) || table.type == SHT_NOBITS)
        return std::nullopt;
    const ElfSection& strings = sections_[table.link];
    std::span<const std::uint8_t> bytes = image_->bytes();
    if (table.offset > bytes.size())
        return std::nullopt;
    std::uint64_t count =
        std::min<std::uint64_t>(table.size, bytes.size() - table.offset) / sizeof(Elf64_Sym);
    for (std::uint64_t i = 1; i < count; ++i) {
        auto symbol = read_at<Elf64_Sym>(bytes, table.offset + i * sizeof(Elf64_Sym));
        if (!symbol)
            break;
        if (symbol->st_shndx == SHN_UNDEF)
            continue;
        int type = ELF64_ST_TYPE(symbol->st_info);
        if (type != STT_OBJECT && type != STT_FUNC && type != STT_NOTYPE && type != STT_TLS)
            continue;
        if (string_at(bytes, strings.offset, strings.size, symbol->st_name) != name)
            continue;
        return ElfSymbol{symbol->st_value, symbol->st_size, ELF64_ST_BIND(symbol->st_info) == STB_LOCAL};
    }
    return std::nullopt;
}

std::span<const std::uint8_t> ElfSymbols::bytes_at(std::uint64_t address, std::uint64_t size) const {
    if (!image_)
        return {};
    std::span<const std::uint8_t> bytes = image_->bytes();
    for (const ElfSegment& load : image_->load_segments()) {
        if (address < load.vaddr || address - load.vaddr >= load.filesz ||
            load.filesz - (address - load.vaddr) < size)
            continue;
        std::uint64_t offset = load.offset + (address - load.vaddr);
        if (offset > bytes.size() || bytes.size() - offset < size)
            return {};
        return bytes.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(size));
    }
    return {};
}

} // namespace sampler

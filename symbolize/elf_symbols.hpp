#pragma once
// Section headers and symbol tables (.symtab, .dynsym) of an ElfImage, for readers that need the
// link-time address of a named variable (interpreter state, type objects) rather than a name for
// an address. The file is untrusted: every offset is bounds-checked, and a malformed table is
// treated as absent.

#include "elf_image.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sampler {

struct ElfSection {
    std::string name;
    std::uint32_t type = 0; // SHT_*
    std::uint64_t flags = 0;
    std::uint64_t address = 0; // link-time
    std::uint64_t offset = 0;  // in the file
    std::uint64_t size = 0;
    std::uint32_t link = 0;
    std::uint64_t entry_size = 0;
};

struct ElfSymbol {
    std::uint64_t address = 0; // link-time; add Module::bias for the run-time address
    std::uint64_t size = 0;
    bool local = false;
};

class ElfSymbols {
  public:
    // Never throws: a file without (readable) section headers has no sections and no symbols.
    explicit ElfSymbols(std::shared_ptr<const ElfImage> image);

    const std::vector<ElfSection>& sections() const { return sections_; }
    const ElfSection* section(std::string_view name) const;

    // A defined data or function symbol called `name`, from .symtab (which also has LOCAL
    // symbols) or else .dynsym.
    std::optional<ElfSymbol> find(std::string_view name) const;

    // The bytes of the file at a link-time address range inside a PT_LOAD segment's file
    // image; empty when any of it is not backed by the file (e.g. .bss).
    std::span<const std::uint8_t> bytes_at(std::uint64_t address, std::uint64_t size) const;

  private:
    std::optional<ElfSymbol> find_in(const ElfSection& table, std::string_view name) const;

    std::shared_ptr<const ElfImage> image_;
    std::vector<ElfSection> sections_;
};

} // namespace sampler

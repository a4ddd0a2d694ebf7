// Fuzz harness: sampler's own ELF readers on arbitrary bytes, in memory: the header and program
// headers (ElfImage), section headers and symbol tables (ElfSymbols), and .eh_frame_hdr. Anything
// but a clean refusal (sampler::Error) or a result is a bug: a crash, a sanitizer report, another
// exception.

#include "eh_frame_hdr.hpp"
#include "elf_image.hpp"
#include "elf_symbols.hpp"
#include "sampler/error.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

using namespace sampler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::shared_ptr<const ElfImage> image;
    try {
        image = ElfImage::parse(std::span<const std::uint8_t>(data, size), nullptr, "fuzzed");
    } catch (const Error&) {
        return 0;
    }
    ElfSymbols symbols(image);
    for (const ElfSection& section : symbols.sections())
        (void)symbols.section(section.name);
    (void)symbols.find("main");
    (void)symbols.find("_PyRuntime");
    for (const ElfSegment& segment : image->load_segments()) {
        (void)symbols.bytes_at(segment.vaddr, std::min<std::uint64_t>(segment.filesz, 64));
        (void)symbols.bytes_at(segment.vaddr + segment.memsz - 1, 2);
    }
    if (const auto& header = image->eh_frame_hdr()) {
        auto bytes = symbols.bytes_at(header->vaddr, header->filesz);
        (void)parse_eh_frame_hdr(bytes, header->vaddr);
    }
    return 0;
}

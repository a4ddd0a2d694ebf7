#include "elf_image.hpp"
#include "untrusted_bytes.hpp"

#include "sampler/error.hpp"

#include <cstring>
#include <elf.h>

namespace sampler {

std::string to_hex(std::span<const std::uint8_t> bits) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (std::uint8_t b : bits) {
        text += digits[b >> 4];
        text += digits[b & 15];
    }
    return text;
}

namespace {

std::string build_id_from_note(std::span<const std::uint8_t> bytes, const Elf64_Phdr& note) {
    std::uint64_t pos = note.p_offset;
    if (pos > bytes.size())
        return {};
    std::uint64_t end = pos + std::min<std::uint64_t>(note.p_filesz, bytes.size() - pos);
    // Each note: header, name padded to 4, descriptor padded to 4.
    for (int guard = 0; guard < 64 && pos + sizeof(Elf64_Nhdr) <= end; ++guard) {
        auto header = read_at<Elf64_Nhdr>(bytes, pos);
        if (!header)
            break;
        std::uint64_t name_size = (std::uint64_t{header->n_namesz} + 3) & ~std::uint64_t{3};
        std::uint64_t desc_size = (std::uint64_t{header->n_descsz} + 3) & ~std::uint64_t{3};
        std::uint64_t desc_pos = pos + sizeof(Elf64_Nhdr) + name_size;
        if (desc_pos > end || end - desc_pos < header->n_descsz)
            break;
        if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 &&
            std::memcmp(bytes.data() + pos + sizeof(Elf64_Nhdr), "GNU", 4) == 0)
            return to_hex(bytes.subspan(desc_pos, header->n_descsz));
        pos = desc_pos + desc_size;
    }
    return {};
}

} // namespace

std::shared_ptr<const ElfImage> ElfImage::open(const std::string& path) {
    auto file = std::make_shared<const MappedFile>(path);
    return parse(file->bytes(), file, path);
}

std::shared_ptr<const ElfImage> ElfImage::parse(std::span<const std::uint8_t> bytes,
                                                std::shared_ptr<const MappedFile> owner,
                                                const std::string& name) {
    auto malformed = [&](const std::string& why) {
        return Error(ErrorKind::io, "malformed ELF file " + name + ": " + why);
    };
    auto header = read_at<Elf64_Ehdr>(bytes, 0);
    if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0)
        throw malformed("no ELF header");
    if (header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_ident[EI_DATA] != ELFDATA2LSB)
        throw malformed("not a little-endian 64-bit ELF file");
    if (header->e_phentsize != sizeof(Elf64_Phdr) && header->e_phnum != 0)
        throw malformed("unexpected program header size");

    auto image = std::shared_ptr<ElfImage>(new ElfImage());
    image->bytes_ = bytes;
    image->owner_ = std::move(owner);
    image->is_dyn_ = header->e_type == ET_DYN;
    for (std::uint16_t i = 0; i < header->e_phnum; ++i) {
        auto phdr = read_at<Elf64_Phdr>(bytes, header->e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr));
        if (!phdr)
            throw malformed("program header table is truncated");
        ElfSegment segment{phdr->p_vaddr, phdr->p_memsz, phdr->p_offset, phdr->p_filesz,
                           (phdr->p_flags & PF_X) != 0};
        if (phdr->p_type == PT_LOAD)
            image->loads_.push_back(segment);
        else if (phdr->p_type == PT_GNU_EH_FRAME)
            image->eh_frame_hdr_ = segment;
        else if (phdr->p_type == PT_NOTE && image->build_id_hex_.empty())
            image->build_id_hex_ = build_id_from_note(bytes, *phdr);
    }
    return image;
}

std::uint64_t ElfImage::load_bias(const MapEntry& mapping) const {
    // The mapping starts at file offset `mapping.offset`, inside some PT_LOAD segment whose
    // file range it covers: run-time start = bias + vaddr of that file offset.
    for (const ElfSegment& load : loads_) {
        std::uint64_t page_offset = load.offset & ~std::uint64_t{0xfff};
        if (mapping.offset >= page_offset &&
            mapping.offset < load.offset + std::max(load.filesz, std::uint64_t{1}))
            return mapping.start - (load.vaddr - (load.offset - mapping.offset));
    }
    if (!is_dyn_)
        return 0;
    return mapping.start - mapping.offset;
}

} // namespace sampler

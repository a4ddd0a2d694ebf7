#pragma once
// The parts of an ELF file the unwinder and symbolizer need: load segments, the .eh_frame_hdr
// location, the file type and build-id. The file is mapped once and treated as untrusted.

#include "mapped_file.hpp"
#include "process_maps.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sampler {

// Lowercase hex of `bits` (a build ID).
std::string to_hex(std::span<const std::uint8_t> bits);

struct ElfSegment {
    std::uint64_t vaddr = 0;
    std::uint64_t memsz = 0;
    std::uint64_t offset = 0;
    std::uint64_t filesz = 0;
    bool executable = false;
};

class ElfImage {
  public:
    // Maps and parses the file; throws sampler::Error (io) for unreadable or malformed ELF.
    static std::shared_ptr<const ElfImage> open(const std::string& path);
    // Parses bytes already in memory (tests, fuzzing); `owner` keeps them alive.
    static std::shared_ptr<const ElfImage> parse(std::span<const std::uint8_t> bytes,
                                                 std::shared_ptr<const MappedFile> owner,
                                                 const std::string& name);

    std::span<const std::uint8_t> bytes() const { return bytes_; }
    bool is_shared_object() const { return is_dyn_; } // ET_DYN: PIE or library
    const std::vector<ElfSegment>& load_segments() const { return loads_; }
    const std::optional<ElfSegment>& eh_frame_hdr() const { return eh_frame_hdr_; }
    const std::string& build_id_hex() const { return build_id_hex_; }

    // Difference between run-time addresses and the file's link-time addresses, given one
    // mapping of this file in the target.
    std::uint64_t load_bias(const MapEntry& mapping) const;

  private:
    std::span<const std::uint8_t> bytes_;
    std::shared_ptr<const MappedFile> owner_;
    bool is_dyn_ = false;
    std::vector<ElfSegment> loads_;
    std::optional<ElfSegment> eh_frame_hdr_;
    std::string build_id_hex_;
};

} // namespace sampler

#pragma once
// The binary-search table of .eh_frame_hdr (the LSB's format), located in a module's file.

#include "module_map.hpp"

#include <cstdint>
#include <optional>
#include <span>

namespace sampler {

struct EhFrameTable {
    std::uint64_t header_address = 0; // run-time address of .eh_frame_hdr
    std::uint64_t table_address = 0;  // run-time address of the first (initial_loc, fde) pair
    std::uint64_t entry_count = 0;
};

// Parses a .eh_frame_hdr whose bytes are `header` and which lives at `header_address`.
// Only the sorted table with 4-byte data-relative entries (what every linker emits) is accepted.
std::optional<EhFrameTable> parse_eh_frame_hdr(std::span<const std::uint8_t> header,
                                               std::uint64_t header_address);

std::optional<EhFrameTable> locate_eh_frame_table(const Module& module);

} // namespace sampler

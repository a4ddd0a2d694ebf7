#pragma once
// CPython line-number tables: bytecode offset -> source line, for each table format. Pure
// functions over bytes copied out of the target; malformed tables end the decode early and never
// read outside the span. Offsets are in bytes from the start of the bytecode.

#include "python_layout.hpp"

#include <cstdint>
#include <optional>
#include <span>

namespace sampler::python {

// <= 3.9 co_lnotab. `signed_line_deltas` is false for 2.7. Always yields a line (the first line
// when the table is empty).
int lnotab_line(std::span<const std::uint8_t> table, int first_line, int byte_offset,
                bool signed_line_deltas);

// 3.10 co_linetable. nullopt: the instruction has no line, or the offset is past the table.
std::optional<int> linetable_310_line(std::span<const std::uint8_t> table, int first_line, int byte_offset);

// 3.11+ location table. nullopt: no location, or the offset is past the table.
std::optional<int> location_table_line(std::span<const std::uint8_t> table, int first_line, int byte_offset);

// Dispatches on the format. A negative offset means "not started": the first line. Returns 0
// when the table has no line for the offset.
std::uint32_t line_for_offset(LineTableFormat format, std::span<const std::uint8_t> table, int first_line,
                              int byte_offset);

} // namespace sampler::python

#pragma once
// Finding `_PyRuntime` or `interp_head` without symbols (stripped binaries): scan the module's
// writable segments in the target for a pointer whose target looks like a live interpreter
// (its first thread state points back at it).

#include "module_map.hpp"
#include "python_layout.hpp"
#include "remote_memory.hpp"

#include <cstdint>
#include <optional>

namespace sampler::python {

inline constexpr std::uint64_t max_scanned_bytes = 64u << 20;

// The address of the runtime struct (EntryModel::runtime) or of the `interp_head` variable
// (EntryModel::interp_head); nullopt when nothing validates.
std::optional<std::uint64_t> scan_for_entry(const Module& module, const ProcessMaps& maps,
                                            const RemoteMemory& memory, const PythonLayout& layout);

// True when `interp` looks like a live PyInterpreterState of this layout.
bool plausible_interpreter(const RemoteMemory& memory, const PythonLayout& layout, std::uint64_t interp);

} // namespace sampler::python

#pragma once
// An object's attributes (its instance dict) read out of target memory, wherever its CPython
// version keeps them: a dict at the type's tp_dictoffset (<= 3.10), a managed dict before the
// object or values shared with the class's cached keys (3.11, 3.12), inline values after the
// object (3.13+).

#include "dict_reader.hpp"

namespace sampler::python {

// Type flags (object.h), the same bits from 3.11 on.
inline constexpr std::uint64_t tpflags_inline_values = 1u << 2; // 3.13+
inline constexpr std::uint64_t tpflags_managed_dict = 1u << 4;  // 3.11+

// The attributes of the object at `object`; nullopt when it has none we can read.
std::optional<std::vector<DictEntry>> instance_attributes(const RemoteMemory& memory, const DictReader& dicts,
                                                          const PythonLayout& layout, std::uint64_t object);

} // namespace sampler::python

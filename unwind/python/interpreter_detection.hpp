#pragma once
// Finding the CPython runtime in a target: which module holds it, its version and layout, and
// the addresses everything else starts from.

#include "module_map.hpp"
#include "python_reader.hpp"
#include "python_target.hpp"
#include "remote_memory.hpp"

#include <optional>
#include <string>

namespace sampler::python {

// Tries each candidate module (mapped libpython*.so first, then the executable): nullopt with
// the reason when none holds a CPython runtime; throws sampler::Error (unsupported) for a CPython
// of unknown version.
std::optional<PythonTarget> locate_interpreter(int pid, const ModuleMap& modules, const RemoteMemory& memory,
                                               const PythonDetectOptions& options, std::string* why_not);

} // namespace sampler::python

#pragma once
// What detection found out about one CPython in a target: enough to read its threads.

#include "object_reader.hpp"
#include "python_layout.hpp"

#include <cstdint>
#include <string>

namespace sampler::python {

struct PythonTarget {
    int pid = 0; // 0: synthetic memory (tests); thread ids are then not checked against /proc
    PythonLayout layout;
    std::string version;     // "3.11.7", or "3.9" when the patch level is unknown
    std::string module_path; // the file holding the interpreter
    TypeAddresses types;
    // &_PyRuntime (3.7+) or &interp_head (2.7, 3.6), in the target.
    std::uint64_t entry_address = 0;
    // &_PyThreadState_Current (2.7, 3.6); 0 when unknown or not used.
    std::uint64_t gil_current_address = 0;
};

} // namespace sampler::python

#pragma once
// The interpreters asyncio is read from (CPython 3.8-3.13 and Debian's static 3.11); each one
// missing on this machine is a skipped part, said once per test case.

#include "../python/interpreters.hpp"
#include "skips.hpp"

#include <string>
#include <vector>

namespace sampler::testing {

inline const std::vector<Interpreter>& asyncio_interpreters() {
    static std::vector<std::string> missing;
    static const std::vector<Interpreter> found =
        test_interpreters({"3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian-3.11"}, missing);
    for (const std::string& label : missing)
        skip_part("no CPython " + label + " on this machine");
    return found;
}

} // namespace sampler::testing

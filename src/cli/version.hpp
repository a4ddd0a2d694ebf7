#pragma once
// What `sampler --version` prints: the version, the git revision it was built from, the capture
// engines built in and whether the binary needs any library besides glibc.

#include <string>

namespace sampler {

std::string version_text();

} // namespace sampler

#pragma once

#include <string_view>

namespace sampler {

// Writes all of `bytes` to `fd` (short writes continued, EINTR retried). Returns 0, or the errno
// of the write that failed.
int write_all(int fd, std::string_view bytes);

} // namespace sampler

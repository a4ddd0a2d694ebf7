#pragma once
// Writing a rendered profile where the user asked: a file, or stdout for "-". Files are replaced
// whole (see ReplacementFile); devices and FIFOs (`-o /dev/null`) are written in place.

#include "sampler/error.hpp"

#include <string>

namespace sampler {

// Throws sampler::Error (io) when `path` cannot be written (a missing directory, no permission),
// found by creating and removing a file beside it: checked before sampling, so a long recording
// is not lost at its end.
void check_output_path(const std::string& path);

// Throws sampler::Error (io) naming the path when the bytes could not all be written (the
// previous file, if any, is then left as it was), or Error (output_closed) when the reader of a
// pipe has gone.
void write_output_file(const std::string& path, const std::string& bytes);

// The error for a failed write of `what` ("stdout") with `error` (an errno value).
Error write_error(const std::string& what, int error);

} // namespace sampler

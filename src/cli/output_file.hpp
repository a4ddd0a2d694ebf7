#pragma once
// Writing a rendered profile where the user asked: a file, or stdout for "-".

#include <string>

namespace sampler {

// Throws sampler::Error (io) naming the path when the file cannot be written.
void write_output_file(const std::string& path, const std::string& bytes);

} // namespace sampler

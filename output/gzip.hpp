#pragma once
// gzip compression through zlib: pprof files are gzip-compressed profile.proto messages.

#include <string>
#include <string_view>

namespace sampler {

// A complete gzip member (header, deflate data, CRC-32 and size trailer). Throws
// sampler::Error(internal) when zlib fails, which only happens when out of memory.
std::string gzip_compress(std::string_view data);

} // namespace sampler

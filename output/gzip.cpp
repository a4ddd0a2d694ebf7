#include "gzip.hpp"

#include "sampler/error.hpp"

#include <zlib.h>

namespace sampler {

std::string gzip_compress(std::string_view data) {
    z_stream stream{};
    // windowBits 15 + 16 asks deflate for the gzip wrapper instead of the zlib one.
    constexpr int gzip_window_bits = 15 + 16;
    if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip_window_bits, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        throw Error(ErrorKind::internal, "zlib: deflateInit2 failed");
    std::string out(deflateBound(&stream, static_cast<uLong>(data.size())) + 32, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int result = deflate(&stream, Z_FINISH);
    const auto written = stream.total_out;
    deflateEnd(&stream);
    if (result != Z_STREAM_END)
        throw Error(ErrorKind::internal, "zlib: deflate did not finish");
    out.resize(written);
    return out;
}

} // namespace sampler

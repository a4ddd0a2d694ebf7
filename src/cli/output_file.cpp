#include "output_file.hpp"

#include "sampler/error.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

namespace sampler {

void write_output_file(const std::string& path, const std::string& bytes) {
    if (path == "-") {
        std::cout << bytes << std::flush;
        return;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw Error(ErrorKind::io, "cannot write " + path + ": " + std::strerror(errno));
    out << bytes;
    if (!out.flush())
        throw Error(ErrorKind::io, "error writing " + path + ": " + std::strerror(errno));
}

} // namespace sampler

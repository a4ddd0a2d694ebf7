#include "output_file.hpp"

#include "replacement_file.hpp"
#include "sampler/error.hpp"
#include "stop_signal.hpp"
#include "write_all.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sampler {
namespace {

// Something other than a regular file or a directory that already exists: replacing it would
// turn /dev/null into a file, or a FIFO's reader would never see the bytes.
bool is_special_file(const std::string& path) {
    struct stat existing {};
    return ::stat(path.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode) && !S_ISDIR(existing.st_mode);
}

void write_in_place(const std::string& path, const std::string& bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error(ErrorKind::io, "cannot write " + path + ": " + std::strerror(errno));
    int error = write_all(fd, bytes);
    ::close(fd);
    if (error)
        throw write_error(path, error);
}

} // namespace

Error write_error(const std::string& what, int error) {
    if (error == EPIPE)
        return Error(ErrorKind::output_closed, "cannot write " + what + ": " + std::strerror(error));
    return Error(ErrorKind::io, "cannot write " + what + ": " + std::strerror(error));
}

void check_output_path(const std::string& path) {
    if (path == "-" || is_special_file(path))
        return;
    ReplacementFile probe(path);
}

void write_output_file(const std::string& path, const std::string& bytes) {
    if (path == "-") {
        if (int error = write_all(STDOUT_FILENO, bytes))
            throw write_error("to stdout", error);
        return;
    }
    if (is_special_file(path))
        return write_in_place(path, bytes);
    // Ctrl-C between creating the temporary file and renaming it would leave it behind.
    StopSignalsDeferred deferred;
    ReplacementFile file(path);
    file.write(bytes);
    file.commit();
}

} // namespace sampler

#include "replacement_file.hpp"

#include "sampler/error.hpp"
#include "write_all.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sampler {
namespace {

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A symbolic link is replaced at its target, as writing through it would have done.
std::string resolve_link(const std::string& path) {
    struct stat link {};
    if (::lstat(path.c_str(), &link) != 0 || !S_ISLNK(link.st_mode))
        return path;
    char resolved[PATH_MAX];
    return ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

Error cannot_write(const std::string& shown, const std::string& why) {
    return Error(ErrorKind::io, "cannot write " + shown + ": " + why);
}

} // namespace

ReplacementFile::ReplacementFile(const std::string& path) : path_(resolve_link(path)), shown_(path) {
    struct stat existing {};
    const bool exists = ::stat(path_.c_str(), &existing) == 0;
    if (exists && S_ISDIR(existing.st_mode))
        throw cannot_write(shown_, "it is a directory");
    // Renaming would replace a file we may not write; refuse as writing in place would.
    if (exists && ::access(path_.c_str(), W_OK) != 0)
        throw cannot_write(shown_, std::strerror(errno));

    const std::string directory = directory_of(path_);
    // Hidden, and short enough for NAME_MAX whatever the destination's name.
    const std::string stem =
        directory + "/." + name_of(path_).substr(0, 200) + ".sampler-" + std::to_string(::getpid()) + "-";
    for (int attempt = 0; fd_ < 0; ++attempt) {
        std::string candidate = stem + std::to_string(attempt);
        // 0666 as any new file: the umask decides, as it would for `> file`.
        fd_ = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd_ >= 0)
            temp_path_ = std::move(candidate);
        else if (errno != EEXIST || attempt == 100) {
            // ENOENT also from a directory that exists but takes no new files (/proc).
            struct stat info {};
            const bool missing = errno == ENOENT && ::stat(directory.c_str(), &info) != 0;
            throw cannot_write(shown_, missing ? "no directory " + directory
                                               : "cannot create a file in " + directory + ": " +
                                                     std::strerror(errno));
        }
    }
    if (exists) {
        // The replacement keeps what writing in place would have kept: mode and owner.
        ::fchmod(fd_, existing.st_mode & 07777);
        [[maybe_unused]] int ignored = ::fchown(fd_, existing.st_uid, existing.st_gid);
    }
}

ReplacementFile::~ReplacementFile() {
    if (fd_ >= 0)
        ::close(fd_);
    if (!temp_path_.empty())
        ::unlink(temp_path_.c_str());
}

void ReplacementFile::write(std::string_view bytes) {
    if (int error = write_all(fd_, bytes))
        throw cannot_write(shown_, std::strerror(error));
}

void ReplacementFile::commit() {
    int fd = fd_;
    fd_ = -1;
    // Some file systems (NFS, quotas) report a failed write only on close.
    if (::close(fd) != 0)
        throw cannot_write(shown_, std::strerror(errno));
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
        throw cannot_write(shown_, std::strerror(errno));
    temp_path_.clear();
}

} // namespace sampler

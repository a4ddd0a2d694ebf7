#include "module_file.hpp"

#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

namespace sampler {

std::string mapped_file_open_path(int pid, const MapEntry& mapping) {
    const std::string proc = "/proc/" + std::to_string(pid);
    // A deleted file is not found there (or another is, with another inode): map_files has it.
    std::string through_root = proc + "/root" + std::string(mapping.file_path());
    struct stat found {};
    if (::stat(through_root.c_str(), &found) == 0 && (mapping.inode == 0 || found.st_ino == mapping.inode))
        return through_root;
    char range[48];
    std::snprintf(range, sizeof range, "/map_files/%llx-%llx", static_cast<unsigned long long>(mapping.start),
                  static_cast<unsigned long long>(mapping.end));
    std::string mapped = proc + range;
    if (::access(mapped.c_str(), R_OK) == 0)
        return mapped;
    return through_root;
}

} // namespace sampler

#pragma once
// /proc/PID/maps: which file (if any) backs each address range of the target.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sampler {

struct MapEntry {
    std::uint64_t start = 0;
    std::uint64_t end = 0; // one past the last byte
    bool readable = false;
    bool writable = false;
    bool executable = false;
    std::uint64_t offset = 0; // file offset of `start`
    std::uint64_t inode = 0;
    std::string path; // file path, `[stack]`-style pseudo name, or empty

    bool contains(std::uint64_t address) const { return address >= start && address < end; }
    // A file we can open: not `[vdso]`, not anonymous. A file deleted or replaced since it was
    // mapped (an upgrade under a running process) counts: it opens through /proc/PID/map_files.
    bool is_file() const;
    // The kernel marks a file deleted since it was mapped by appending " (deleted)" to its path.
    bool is_deleted() const;
    std::string_view file_path() const; // the path without that mark
};

// `path` without the " (deleted)" the kernel appends to a file deleted since it was mapped.
std::string_view without_deleted_mark(std::string_view path);

class ProcessMaps {
  public:
    ProcessMaps() = default;
    explicit ProcessMaps(std::vector<MapEntry> entries);

    // Parses the text of a maps file; malformed lines are skipped and counted.
    static ProcessMaps parse(std::string_view text);
    // Reads /proc/PID/maps; throws sampler::Error when the process is gone.
    static ProcessMaps read(int pid);

    const MapEntry* find(std::uint64_t address) const;
    const std::vector<MapEntry>& entries() const { return entries_; }
    std::size_t malformed_lines() const { return malformed_lines_; }
    const std::string& text() const { return text_; }

  private:
    std::vector<MapEntry> entries_; // sorted by start
    std::size_t malformed_lines_ = 0;
    std::string text_; // the raw text, for libdwfl's maps reporter
};

std::optional<MapEntry> parse_map_line(std::string_view line);

// The basename of a path ("/usr/lib/libc.so.6" -> "libc.so.6").
std::string path_basename(std::string_view path);

} // namespace sampler

#include "process_maps.hpp"

#include "sampler/error.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace sampler {
namespace {

bool parse_hex(std::string_view& text, std::uint64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (ec != std::errc() || end == text.data())
        return false;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

bool parse_dec(std::string_view& text, std::uint64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
    if (ec != std::errc() || end == text.data())
        return false;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

// Why /proc/PID/maps could not be read, by errno: gone, not allowed, or something else.
[[noreturn]] void throw_maps_error(int pid, const std::string& path, int error) {
    const std::string process = "process " + std::to_string(pid);
    if (error == ENOENT || error == ESRCH)
        throw Error(ErrorKind::no_such_process, "cannot read " + path + ": " + process + " has exited");
    if (error == EACCES || error == EPERM)
        throw Error(ErrorKind::permission,
                    "not allowed to read " + path + " (" + std::strerror(error) +
                        "): only a user allowed to trace " + process +
                        " may: its owner (unless it is not dumpable, as after a setuid exec) " +
                        "or one with CAP_SYS_PTRACE");
    throw Error(ErrorKind::io, "cannot read " + path + ": " + std::strerror(error));
}

bool expect(std::string_view& text, char c) {
    if (text.empty() || text.front() != c)
        return false;
    text.remove_prefix(1);
    return true;
}

void skip_spaces(std::string_view& text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
}

std::string_view next_word(std::string_view& text) {
    skip_spaces(text);
    std::size_t n = text.find_first_of(" \t");
    if (n == std::string_view::npos)
        n = text.size();
    std::string_view word = text.substr(0, n);
    text.remove_prefix(n);
    return word;
}

} // namespace

namespace {
constexpr std::string_view deleted_mark = " (deleted)";
}

std::string_view without_deleted_mark(std::string_view path) {
    if (path.size() > deleted_mark.size() && path.ends_with(deleted_mark))
        path.remove_suffix(deleted_mark.size());
    return path;
}

bool MapEntry::is_file() const {
    return !path.empty() && path.front() == '/';
}

bool MapEntry::is_deleted() const {
    return without_deleted_mark(path).size() != path.size();
}

std::string_view MapEntry::file_path() const {
    return without_deleted_mark(path);
}

std::optional<MapEntry> parse_map_line(std::string_view line) {
    // start-end perms offset dev inode   path
    MapEntry entry;
    std::string_view rest = line;
    if (!parse_hex(rest, entry.start) || !expect(rest, '-') || !parse_hex(rest, entry.end))
        return std::nullopt;
    if (entry.end < entry.start)
        return std::nullopt;
    std::string_view perms = next_word(rest);
    if (perms.size() < 4)
        return std::nullopt;
    entry.readable = perms[0] == 'r';
    entry.writable = perms[1] == 'w';
    entry.executable = perms[2] == 'x';
    skip_spaces(rest);
    if (!parse_hex(rest, entry.offset))
        return std::nullopt;
    std::string_view device = next_word(rest);
    if (device.find(':') == std::string_view::npos)
        return std::nullopt;
    skip_spaces(rest);
    if (!parse_dec(rest, entry.inode))
        return std::nullopt;
    skip_spaces(rest);
    // The path is the rest of the line: it may contain spaces.
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r'))
        rest.remove_suffix(1);
    entry.path = std::string(rest);
    return entry;
}

ProcessMaps::ProcessMaps(std::vector<MapEntry> entries) : entries_(std::move(entries)) {
    std::sort(entries_.begin(), entries_.end(),
              [](const MapEntry& a, const MapEntry& b) { return a.start < b.start; });
}

ProcessMaps ProcessMaps::parse(std::string_view text) {
    std::vector<MapEntry> entries;
    std::size_t malformed = 0;
    while (!text.empty()) {
        std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        if (line.empty())
            continue;
        if (auto entry = parse_map_line(line))
            entries.push_back(std::move(*entry));
        else
            ++malformed;
    }
    ProcessMaps maps(std::move(entries));
    maps.malformed_lines_ = malformed;
    return maps;
}

ProcessMaps ProcessMaps::read(int pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/maps";
    std::string text;
    int error = 0;
    if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd < 0) {
        error = errno;
    } else {
        const struct Closer {
            int fd;
            ~Closer() { ::close(fd); }
        } closer{fd}; // also when appending throws
        char chunk[16384];
        for (;;) {
            const ssize_t got = ::read(fd, chunk, sizeof chunk);
            if (got > 0)
                text.append(chunk, static_cast<std::size_t>(got));
            else if (got == 0 || errno != EINTR) {
                error = got == 0 ? 0 : errno;
                break;
            }
        }
    }
    if (error != 0)
        throw_maps_error(pid, path, error);
    ProcessMaps maps = parse(text);
    maps.text_ = std::move(text);
    return maps;
}

const MapEntry* ProcessMaps::find(std::uint64_t address) const {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                               [](std::uint64_t a, const MapEntry& e) { return a < e.start; });
    if (it == entries_.begin())
        return nullptr;
    --it;
    return it->contains(address) ? &*it : nullptr;
}

std::string path_basename(std::string_view path) {
    std::size_t slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

} // namespace sampler

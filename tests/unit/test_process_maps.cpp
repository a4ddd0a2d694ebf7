#include "process_maps.hpp"
#include "sampler/error.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace sampler;

TEST_CASE("maps lines parse into ranges, permissions, offsets and paths") {
    auto entry = parse_map_line("7efc7ae44000-7efc7af9a000 r-xp 00026000 fe:00 332835                     "
                                "/usr/lib/x86_64-linux-gnu/libc.so.6");
    REQUIRE(entry);
    CHECK(entry->start == 0x7efc7ae44000);
    CHECK(entry->end == 0x7efc7af9a000);
    CHECK(entry->readable);
    CHECK_FALSE(entry->writable);
    CHECK(entry->executable);
    CHECK(entry->offset == 0x26000);
    CHECK(entry->inode == 332835);
    CHECK(entry->path == "/usr/lib/x86_64-linux-gnu/libc.so.6");
    CHECK(entry->is_file());
}

TEST_CASE("maps paths keep spaces, pseudo, anonymous and deleted entries are not files") {
    auto spaced = parse_map_line("1000-2000 r--p 00000000 08:01 42 /opt/my app/lib foo.so");
    REQUIRE(spaced);
    CHECK(spaced->path == "/opt/my app/lib foo.so");
    auto stack = parse_map_line("7ffc0000-7ffd0000 rw-p 00000000 00:00 0                          [stack]");
    REQUIRE(stack);
    CHECK(stack->path == "[stack]");
    CHECK_FALSE(stack->is_file());
    auto anonymous = parse_map_line("1000-2000 rw-p 00000000 00:00 0");
    REQUIRE(anonymous);
    CHECK(anonymous->path.empty());
    CHECK_FALSE(anonymous->is_file());
    auto deleted = parse_map_line("1000-2000 r-xp 00000000 08:01 42 /tmp/old.so (deleted)");
    REQUIRE(deleted);
    // Still a module: opened through /proc/PID/map_files, named without the kernel's mark.
    CHECK(deleted->is_file());
    CHECK(deleted->is_deleted());
    CHECK(deleted->file_path() == "/tmp/old.so");
    auto present = parse_map_line("1000-2000 r-xp 00000000 08:01 43 /tmp/new.so");
    REQUIRE(present);
    CHECK_FALSE(present->is_deleted());
    CHECK(present->file_path() == "/tmp/new.so");
    CHECK(without_deleted_mark(" (deleted)") == " (deleted)");
}

TEST_CASE("malformed maps lines are skipped and counted") {
    for (const char* bad : {"", "zzzz", "1000 r-xp 0 08:01 1 /x", "2000-1000 r-xp 0 08:01 1 /x",
                            "1000-2000 r", "1000-2000 r-xp zz 08:01 1"})
        CHECK_FALSE(parse_map_line(bad));
    ProcessMaps maps = ProcessMaps::parse(
        "1000-2000 r-xp 00000000 08:01 1 /a\ngarbage\n3000-4000 r--p 00000000 08:01 2 /b\n");
    CHECK(maps.entries().size() == 2);
    CHECK(maps.malformed_lines() == 1);
}

TEST_CASE("address lookup finds the containing entry or nothing") {
    ProcessMaps maps =
        ProcessMaps::parse("3000-4000 r--p 00000000 08:01 2 /b\n1000-2000 r-xp 00000000 08:01 1 /a\n");
    REQUIRE(maps.find(0x1000));
    CHECK(maps.find(0x1000)->path == "/a");
    CHECK(maps.find(0x1fff)->path == "/a");
    CHECK(maps.find(0x2000) == nullptr);
    CHECK(maps.find(0x3800)->path == "/b");
    CHECK(maps.find(0x10) == nullptr);
    CHECK(maps.find(0x5000) == nullptr);
}

TEST_CASE("our own maps read back and contain this function's code") {
    ProcessMaps maps = ProcessMaps::read(::getpid());
    const MapEntry* code = maps.find(reinterpret_cast<std::uint64_t>(&parse_map_line));
    REQUIRE(code);
    CHECK(code->executable);
    CHECK(code->is_file());
    CHECK(path_basename("/usr/lib/libc.so.6") == "libc.so.6");
    CHECK(path_basename("plain") == "plain");
}

namespace {

// The kind of error ProcessMaps::read(pid) throws; nullopt when it reads.
std::optional<ErrorKind> read_error(int pid) {
    try {
        ProcessMaps::read(pid);
        return std::nullopt;
    } catch (const Error& error) {
        return error.kind();
    }
}

} // namespace

TEST_CASE("maps that cannot be read say why: the process is gone, or not ours to read") {
    const pid_t gone = ::fork();
    REQUIRE(gone >= 0);
    if (gone == 0)
        ::_exit(0);
    int status = 0;
    REQUIRE(::waitpid(gone, &status, 0) == gone);
    CHECK(read_error(gone) == ErrorKind::no_such_process);

    // A process of another user, without CAP_SYS_PTRACE: as root, a child that becomes nobody
    // reads its root parent's maps; otherwise this process reads init's (root's). The child
    // answers by its exit code: 0 permission, 1 another error, 2 read (nothing to test: skipped).
    const int owner_of_root_maps = ::getuid() == 0 ? ::getpid() : 1;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::getuid() == 0 && ::setuid(65534) != 0)
            ::_exit(3);
        const auto error = read_error(owner_of_root_maps);
        ::_exit(!error ? 2 : *error == ErrorKind::permission ? 0 : 1);
    }
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 2)
        WARN("process " << owner_of_root_maps << "'s maps are readable to another user here: not tested");
    else
        CHECK(WEXITSTATUS(status) == 0);
}

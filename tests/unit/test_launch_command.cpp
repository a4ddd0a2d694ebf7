// launch_command: the PID it returns is of the command's program, already mapped, so the first
// read of the maps finds it (the exec's success is told before the kernel maps the program).
#include "target.hpp"
#include "test_children.hpp"

#include <catch2/catch.hpp>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <elf.h>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace sampler;

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string executable_of(int pid) {
    char target[PATH_MAX] = {};
    const std::string link = "/proc/" + std::to_string(pid) + "/exe";
    const ssize_t size = ::readlink(link.c_str(), target, sizeof target - 1);
    return size > 0 ? std::string(target, static_cast<std::size_t>(size)) : std::string();
}

// Where the kernel put the program's ELF interpreter (AT_BASE in /proc/PID/auxv), whichever
// C library's it is; 0 when not given.
std::uint64_t interpreter_base_of(int pid) {
    const std::string auxv = read_all("/proc/" + std::to_string(pid) + "/auxv");
    for (std::size_t at = 0; at + 2 * sizeof(std::uint64_t) <= auxv.size(); at += 2 * sizeof(std::uint64_t)) {
        std::uint64_t entry[2];
        std::memcpy(entry, auxv.data() + at, sizeof entry);
        if (entry[0] == AT_BASE)
            return entry[1];
    }
    return 0;
}

// Whether a line of the maps text starts at `address`.
bool mapped_at(const std::string& maps, std::uint64_t address) {
    char start[32];
    std::snprintf(start, sizeof start, "%llx-", static_cast<unsigned long long>(address));
    return maps.starts_with(start) || maps.find(std::string("\n") + start) != std::string::npos;
}

} // namespace

TEST_CASE("launch_command returns once the program and its ELF interpreter are mapped", "[command]") {
    // The window it closes is microseconds wide: a few rounds, each read at once.
    for (int round = 0; round < 20; ++round) {
        const int pid = launch_command({"sleep", "10"});
        const ChildReaper reaper{pid};
        const std::string maps = read_all("/proc/" + std::to_string(pid) + "/maps");
        const std::string program = executable_of(pid);
        INFO("round " << round << ", program " << program << ", maps:\n" << maps);
        REQUIRE_FALSE(program.empty());
        CHECK(maps.find(program) != std::string::npos);
        const std::uint64_t interpreter = interpreter_base_of(pid);
        REQUIRE(interpreter != 0); // `sleep` is dynamically linked
        CHECK(mapped_at(maps, interpreter));
        CHECK(maps.find("[stack]") != std::string::npos);
    }
}

// launch_command: the PID it returns is of the command's program, already mapped, so the first
// read of the maps finds it (the exec's success is told before the kernel maps the program).
#include "target.hpp"
#include "test_children.hpp"

#include <catch2/catch.hpp>
#include <climits>
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
        CHECK(maps.find("/ld-linux") != std::string::npos);
        CHECK(maps.find("[stack]") != std::string::npos);
    }
}

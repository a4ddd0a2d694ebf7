// `sampler dump`: every thread's stack once, checked against the fixture's known stacks.
#include "process_helpers.hpp"

#include <catch2/catch.hpp>
#include <regex>
#include <sstream>

using namespace sampler::testing;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        lines.push_back(line);
    return lines;
}

// The frame lines under the header of the thread named `name`.
std::vector<std::string> thread_frames(const std::string& dump, const std::string& name) {
    std::vector<std::string> frames;
    bool inside = false;
    for (const std::string& line : lines_of(dump)) {
        if (line.rfind("Thread ", 0) == 0) {
            inside = line.find("(" + name + ")") != std::string::npos;
            continue;
        }
        if (inside && line.rfind("    ", 0) == 0)
            frames.push_back(line.substr(4));
    }
    return frames;
}

} // namespace

TEST_CASE("dump shows a blocked thread at its exact line, with name and state", "[dump]") {
    ChildProcess target({fixture_path("workload"), "blocked"});
    wait_until_started(target);
    CommandResult result = run_sampler({"dump", "--pid", std::to_string(target.pid())});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("Thread " + std::to_string(target.pid()) + " (workload) [running]") !=
          std::string::npos);
    CHECK(std::regex_search(result.out, std::regex(R"(Thread \d+ \(blocker\) \[sleeping\])")));

    auto frames = thread_frames(result.out, "blocker");
    REQUIRE(frames.size() >= 3);
    CHECK(frames[0].rfind("pause", 0) == 0);
    int line = line_of_marker(source_path("tests/fixtures/workload.cpp"), "BLOCK_FOREVER_LINE");
    CHECK(frames[1] == "block_forever() (" + source_path("tests/fixtures/workload.cpp") + ":" +
                           std::to_string(line) + ")");
    CHECK(frames.back().find("clone") != std::string::npos);
}

TEST_CASE("dump shows the running thread's full stack and inline frames with their lines", "[dump][inline]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::string source = source_path("tests/fixtures/workload.cpp");
    int first = line_of_marker(source, "MIX_STEP_FIRST_LINE");
    int last = line_of_marker(source, "MIX_STEP_LAST_LINE");
    std::regex inline_frame(R"(^mix_step\(unsigned long\) \((.*):(\d+)\) \[inline\]$)");
    bool seen_inline = false;
    // A single snapshot may land outside the inlined code; a handful of them will not.
    for (int attempt = 0; attempt < 30 && !seen_inline; ++attempt) {
        CommandResult result = run_sampler({"dump", "--pid", std::to_string(target.pid())});
        REQUIRE(result.exit_code == 0);
        auto frames = thread_frames(result.out, "workload");
        REQUIRE(frames.size() >= 6);
        CHECK(frames.back().rfind("_start", 0) == 0);
        std::smatch match;
        if (std::regex_match(frames[0], match, inline_frame)) {
            seen_inline = true;
            CHECK(match[1] == source);
            int line = std::stoi(match[2]);
            CHECK(line >= first);
            CHECK(line <= last);
            CHECK(frames[1].rfind("burn(unsigned long) (" + source + ":", 0) == 0);
            CHECK(
                (frames[2].rfind("parent_heavy() (", 0) == 0 || frames[2].rfind("parent_light() (", 0) == 0));
            CHECK(frames[3].rfind("run_split_forever() (", 0) == 0);
            CHECK(frames[4].rfind("main (", 0) == 0);
        }
    }
    CHECK(seen_inline);
}

TEST_CASE("dump of a stripped binary prints module offsets", "[dump][stripped]") {
    ChildProcess target({fixture_path("workload_stripped"), "split"});
    wait_until_started(target);
    CommandResult result = run_sampler({"dump", "--pid", std::to_string(target.pid())});
    REQUIRE(result.exit_code == 0);
    CHECK(std::regex_search(result.out, std::regex(R"(    0x[0-9a-f]+ \(workload_stripped\+0x[0-9a-f]+\))")));
    CHECK(result.out.find("__libc_start_main") != std::string::npos);
}

TEST_CASE("dump says a stack cut at --max-depth reached the limit, not that unwinding failed", "[dump]") {
    ChildProcess target({fixture_path("workload"), "blocked"});
    wait_until_started(target);
    CommandResult result = run_sampler({"dump", "--pid", std::to_string(target.pid()), "--max-depth", "2"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto frames = thread_frames(result.out, "blocker");
    REQUIRE(!frames.empty());
    CHECK(frames.back() == "... (outer frames not shown: the depth limit was reached; see --max-depth)");
    CHECK(result.out.find("unwinding stopped early") == std::string::npos);

    CommandResult json =
        run_sampler({"dump", "--pid", std::to_string(target.pid()), "--max-depth", "2", "--json"});
    CHECK(json.out.find("\"depth_limit\": true") != std::string::npos);
}

// The asyncio reader's calls for samplers (running_task, task_name, read_task,
// running_task_named) on live
// interpreters, read while the target runs, through asyncio_task_probe: the fixture's main loop
// runs its spinner task, whose coroutines are known; its second loop runs none.

#include "child_process.hpp"
#include "interpreters.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace sampler::testing;

namespace {

const std::string fixture = ASYNCIO_FIXTURE;

int marked_line(const std::string& marker) {
    std::ifstream in(fixture);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number)
        if (line.find("MARK: " + marker) != std::string::npos)
            return number;
    return 0;
}

struct ProbedLoop {
    std::string running, name, state;
    std::string named = "-";         // running_task_named: "name coroutine"
    std::vector<std::string> frames; // "name file:line"
};

std::map<int, ProbedLoop> probe(int pid) {
    RunResult result = run_command({TASK_PROBE_BINARY, std::to_string(pid)}, std::chrono::seconds(60), true);
    INFO("probe said:\n" << result.out);
    REQUIRE(result.exit_code == 0);
    std::map<int, ProbedLoop> loops;
    ProbedLoop* current = nullptr;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream parts(line);
        for (std::string field; std::getline(parts, field, '\t');)
            fields.push_back(field);
        if (fields.size() == 3 && fields[0].rfind("loop ", 0) == 0) {
            current = &loops[std::stoi(fields[0].substr(5))];
            current->running = fields[1];
            current->name = fields[2];
        } else if (current && fields.size() == 3 && fields[0] == "named") {
            current->named = fields[1] + " " + fields[2];
        } else if (current && line.rfind("state ", 0) == 0) {
            current->state = line.substr(6);
        } else if (current && fields.size() == 4 && fields[0] == "frame") {
            current->frames.push_back(fields[1] + " " + fields[2] + ":" + fields[3]);
        }
    }
    return loops;
}

bool spinning(const ProbedLoop& loop) {
    const std::string prefix = "spin " + fixture + ":";
    if (loop.frames.size() != 2 || loop.frames[0].rfind(prefix, 0) != 0)
        return false;
    const int line = std::stoi(loop.frames[0].substr(prefix.size()));
    return line >= marked_line("spin-first") && line <= marked_line("spin-last");
}

void check_interpreter(const std::optional<Interpreter>& interpreter, const std::string& label) {
    if (!interpreter)
        skip_test("CPython " + label + " is not installed");
    const std::string report = unique_temp_path("asyncio-report.json");
    Child child({interpreter->executable, fixture, report});
    for (int i = 0; i < 600 && !std::filesystem::exists(report); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(std::filesystem::exists(report));
    ::unlink(report.c_str());
    // Right after its report, the spinner may still be on its way into its loop.
    std::map<int, ProbedLoop> loops = probe(child.pid());
    for (int attempt = 0; attempt < 20 && !(loops.count(child.pid()) && spinning(loops[child.pid()]));
         ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        loops = probe(child.pid());
    }
    REQUIRE(loops.size() == 2);
    const ProbedLoop& main = loops[child.pid()];
    CHECK(main.running == "spinner");
    CHECK(main.name == "spinner");
    CHECK(main.state == "running");
    CHECK(main.named == "spinner spinner"); // the task, and the coroutine it was made to run
    CHECK(spinning(main));
    REQUIRE(main.frames.size() == 2);
    CHECK(main.frames[1] == "spinner " + fixture + ":" + std::to_string(marked_line("spinner")));
    for (const auto& [tid, loop] : loops)
        if (tid != child.pid()) {
            CHECK(loop.running == "-"); // the background loop waits
            CHECK(loop.named == "-");
        }
}

} // namespace

TEST_CASE("asyncio 3.8 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.8"), "3.8");
}
TEST_CASE("asyncio 3.9 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.9"), "3.9");
}
TEST_CASE("asyncio 3.10 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.10"), "3.10");
}
TEST_CASE("asyncio 3.11 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.11"), "3.11");
}
TEST_CASE("asyncio 3.12 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.12"), "3.12");
}
TEST_CASE("asyncio 3.13 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_pyenv_interpreter("3.13"), "3.13");
}
TEST_CASE("asyncio debian 3.11 running task, as a sampler reads it", "[python][live][asyncio]") {
    check_interpreter(find_debian_python311(), "debian-3.11");
}

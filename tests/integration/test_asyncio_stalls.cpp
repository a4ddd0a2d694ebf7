// `record --asyncio` on python/stall_service.py, whose event loop is blocked for known times
// (a 200 ms CPU-bound step of task `decoder`, a 150 ms time.sleep in task `sleeper`) among
// back-to-back 3 ms steps of task `chatter` and a 10 ms ticker, on every CPython 3.8-3.13 and
// Debian's static 3.11, with the C Task and the pure-Python one: every stall is reported with its
// task, coroutine line and culprit, within one sample interval + 10% of what the fixture itself
// measured; short steps never merge into a stall; a loop that only waits in select has none; the
// stderr lines and the JSON lines agree; --stalls-only keeps only what ran inside stalls.
#include "asyncio_interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

const std::string service = source_path("tests/integration/python/stall_service.py");
constexpr double rate_hz = 100;
constexpr double interval_ms = 1000 / rate_hz;

struct Service {
    Service(const Interpreter& interpreter, const std::string& mode, bool python_tasks)
        : process(argv(interpreter, mode, python_tasks)) {
        INFO("service stderr: " << process.errors());
        REQUIRE(wait_for_output(process, "ready\n", 30s));
    }
    static std::vector<std::string> argv(const Interpreter& interpreter, const std::string& mode,
                                         bool python_tasks) {
        std::vector<std::string> args{interpreter.executable, service, mode};
        if (python_tasks)
            args.push_back("--python-tasks");
        return args;
    }
    // What the service measured of each block it made: "decoder" -> seconds, in order.
    std::multimap<std::string, double> made() const {
        std::multimap<std::string, double> blocks;
        std::istringstream lines(process.output());
        std::string word, name;
        double seconds = 0;
        while (lines >> word)
            if (word == "made" && lines >> name >> seconds)
                blocks.emplace(name, seconds);
        return blocks;
    }
    ChildProcess process;
};

struct Recorded {
    CommandResult result;
    std::vector<nlohmann::json> stalls; // the --stalls file's lines
    std::string folded;
};

Recorded record_stalls(const Service& target, const std::string& engine,
                       std::vector<std::string> extra = {}) {
    const std::string stalls_path = temp_path("stalls.jsonl");
    const std::string folded_path = temp_path("stalls.folded");
    // 5 s: a decode and a sleep every 1.2 s or so, so at least 3 of each whole.
    std::vector<std::string> args{"record", "--asyncio", "--capture",
                                  engine,   "--pid",     std::to_string(target.process.pid())};
    for (const std::string& arg : {"-r", "100", "-d", "5", "-f", "folded"})
        args.push_back(arg);
    for (const std::string& arg : {std::string("-o"), folded_path, std::string("--stalls"), stalls_path})
        args.push_back(arg);
    args.insert(args.end(), extra.begin(), extra.end());
    Recorded recorded;
    recorded.result = run_sampler(args);
    std::istringstream lines(read_file(stalls_path));
    for (std::string line; std::getline(lines, line);)
        if (!line.empty())
            recorded.stalls.push_back(nlohmann::json::parse(line));
    recorded.folded = read_file(folded_path);
    return recorded;
}

// The stderr lines, "sampler: stall N ms  ...", in order.
std::vector<std::string> stall_lines(const std::string& err) {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("sampler: stall ", 0) == 0)
            lines.push_back(line);
    return lines;
}

void check_stalls(const Service& target, const Recorded& recorded) {
    INFO("sampler stderr:\n" << recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const auto made = target.made();
    const int decode_line = line_of_marker(service, "MARK: decode");
    const int sleep_line = line_of_marker(service, "MARK: sleep");
    int decoders = 0, sleepers = 0;
    for (const nlohmann::json& stall : recorded.stalls) {
        INFO("stall: " << stall.dump());
        const std::string task = stall["task"].is_string() ? stall["task"].get<std::string>() : "";
        // The two that block; never the 3 ms steps of chatter run back to back, nor ticker,
        // unless the machine itself stretched a step that long (the service then says so, and
        // the duration check below matches it).
        REQUIRE((task == "decoder" || task == "sleeper" || (task == "chatter" && made.count("chatter") > 0)));
        if (task == "chatter")
            continue;
        CHECK(stall["coroutine"]["name"] == task);
        CHECK(stall["coroutine"]["file"].get<std::string>().ends_with("stall_service.py"));
        CHECK(stall["coroutine"]["line"] == (task == "decoder" ? decode_line : sleep_line));
        CHECK(stall["thread"] == "MainThread");
        CHECK(stall["tid"] == target.process.pid());
        if (task == "decoder") {
            ++decoders;
            CHECK(stall["stack"][0]["name"] == "burn"); // the culprit, innermost
        } else {
            ++sleepers; // time.sleep is C: the coroutine's frame is the innermost Python one
        }
        if (stall["ongoing"].get<bool>() || stall["began_before"].get<bool>())
            continue; // cut by the end of the recording, or running at its start
        // Within one sample interval + 10% of a block the service measured itself.
        const double duration = stall["duration_ms"].get<double>();
        bool matched = false;
        auto [first, last] = made.equal_range(task);
        for (auto block = first; block != last; ++block)
            matched =
                matched || std::abs(duration - 1000 * block->second) <= interval_ms + 100 * block->second;
        CHECK(matched);
    }
    // One of each per 1.2 s or so, over 5 s.
    CHECK(decoders >= 3);
    CHECK(sleepers >= 3);
    // The stderr lines and the JSON lines tell the same stalls, in the same order.
    const std::vector<std::string> lines = stall_lines(recorded.result.err);
    REQUIRE(lines.size() == recorded.stalls.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const nlohmann::json& stall = recorded.stalls[i];
        char duration[32];
        std::snprintf(duration, sizeof duration, "%.0f ms", stall["duration_ms"].get<double>());
        CHECK(lines[i].find(std::string("sampler: stall ") + duration) == 0);
        CHECK(lines[i].find("  " + stall["task"].get<std::string>() + " " +
                            stall["coroutine"]["name"].get<std::string>() + " (") != std::string::npos);
    }
    CHECK(recorded.result.err.find("sampler: --asyncio: " + std::to_string(lines.size()) +
                                   " stalls of 100 ms") != std::string::npos);
    check_target_runs_on(target.process.pid());
}

} // namespace

TEST_CASE("Python: record --asyncio tells each stall of the event loop, its task, coroutine and duration",
          "[python][asyncio][perf]") {
    for (const Interpreter& interpreter : asyncio_interpreters())
        for (const bool python_tasks : {false, true})
            DYNAMIC_SECTION(interpreter.label << (python_tasks ? " pure-Python Task" : " C Task")) {
                Service target(interpreter, "stalls", python_tasks);
                check_stalls(target, record_stalls(target, "perf"));
            }
}

TEST_CASE("Python: record --asyncio on the ptrace engine tells the same stalls", "[python][asyncio][perf]") {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    Service target(*interpreter, "stalls", false);
    check_stalls(target, record_stalls(target, "ptrace"));
}

TEST_CASE("Python: record --asyncio finds no stall in a loop that only waits in select",
          "[python][asyncio][perf]") {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            Service target(*interpreter, "idle", false);
            Recorded recorded = record_stalls(target, engine);
            INFO(recorded.result.err);
            REQUIRE(recorded.result.exit_code == 0);
            CHECK(recorded.stalls.empty());
            CHECK(stall_lines(recorded.result.err).empty());
            CHECK(recorded.result.err.find("sampler: --asyncio: no event-loop stall of 100 ms or more") !=
                  std::string::npos);
            CHECK(recorded.result.err.find("no running asyncio event loop") == std::string::npos);
        }
}

TEST_CASE("Python: record --asyncio --stalls-only keeps only the samples taken inside stalls",
          "[python][asyncio][perf]") {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    Service target(*interpreter, "stalls", false);
    Recorded recorded = record_stalls(target, "perf", {"--stalls-only"});
    INFO(recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const auto folded = parse_folded(recorded.folded);
    INFO("folded:\n" << recorded.folded);
    // The decoder's CPU-bound stalls are on-CPU samples; chatter runs between stalls only.
    CHECK(samples_matching(folded, "decode_body") >
          5); // 3 or 4 decodes of 20 on-CPU samples each, on a quiet machine
    CHECK(samples_matching(folded, "chatter") == 0);
    CHECK(samples_matching(folded, "decode_body") ==
          total_samples(folded) - samples_matching(folded, "sleeper"));
    CHECK(recorded.result.err.find("--stalls-only: the profile holds the") != std::string::npos);
}

TEST_CASE("Python: --stall-threshold sets what counts, and the stall flags need --asyncio",
          "[python][asyncio][perf]") {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    Service target(*interpreter, "stalls", false);
    // 175 ms: the 200 ms decodes count, the 150 ms sleeps do not.
    Recorded recorded = record_stalls(target, "perf", {"--stall-threshold", "175"});
    INFO(recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    CHECK(recorded.stalls.size() >= 3);
    for (const nlohmann::json& stall : recorded.stalls)
        CHECK(stall["task"] == "decoder");
    for (const std::vector<std::string>& flags :
         {std::vector<std::string>{"--stalls-only"}, {"--stall-threshold", "50"}, {"--stalls", "x.jsonl"}}) {
        std::vector<std::string> args{"record", "--pid", std::to_string(target.process.pid()), "-d", "1"};
        args.insert(args.end(), flags.begin(), flags.end());
        CommandResult refused = run_sampler(args);
        CHECK(refused.exit_code == 2);
        CHECK(refused.err.find("requires --asyncio") != std::string::npos);
    }
}

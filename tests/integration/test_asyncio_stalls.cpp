// `record --asyncio` on python/stall_service.py, whose event loop is blocked for known times
// (a 200 ms CPU-bound step of task `decoder`, a 150 ms time.sleep in task `sleeper`) among
// back-to-back 3 ms steps of task `chatter` and a 10 ms ticker, on every CPython 3.8-3.13 and
// Debian's static 3.11, with the C Task (and on 3.13 the pure-Python one): every stall is
// reported with its task, coroutine line and culprit, within one sample interval + 10% of what
// the fixture itself measured; short steps never merge into a stall; a loop that only waits in
// select has none; the stderr lines and the JSON lines agree; --stalls-only keeps only what ran
// inside stalls.
#include "asyncio_interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"
#include "stall_records.hpp"
#include "stall_service.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

const std::string& service = stall_service_path();
constexpr double rate_hz = 100;
constexpr double interval_ms = 1000 / rate_hz;
RecordedStalls record_stalls(const StallService& target, const std::string& engine,
                             const std::vector<std::string>& extra = {}) {
    return sampler::testing::record_stalls(target.process.pid(), engine, extra);
}

void check_stalls(const StallService& target, const RecordedStalls& recorded) {
    INFO("sampler stderr:\n" << recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const int decode_line = line_of_marker(service, "MARK: decode");
    const int sleep_line = line_of_marker(service, "MARK: sleep");
    int decoders = 0, sleepers = 0;
    for (const nlohmann::json& stall : recorded.stalls) {
        INFO("stall: " << stall.dump());
        const std::string task = stall["task"].is_string() ? stall["task"].get<std::string>() : "";
        const bool cut = stall["ongoing"].get<bool>() || stall["began_before"].get<bool>();
        if (task == "chatter" &&
            (cut ? target.made().count("chatter") > 0
                 : target.matches_made("chatter", stall["duration_ms"].get<double>(), interval_ms)))
            continue; // a 3 ms step the machine stretched, as the service measured itself
        // Only the two that block: never the 3 ms steps of chatter run back to back, nor ticker.
        REQUIRE((task == "decoder" || task == "sleeper"));
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
        if (cut)
            continue; // cut by the end of the recording, or running at its start
        // Within one sample interval + 10% of a block the service measured itself.
        CHECK(target.matches_made(task, stall["duration_ms"].get<double>(), interval_ms));
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
    // The pure-Python Task on the newest interpreter only: reading it (its instance dict) is
    // checked on every interpreter by the --tasks and dump --tasks tests; here it is the stall
    // detection, the same for both kinds of Task, and each run costs 5 s of CI.
    for (const Interpreter& interpreter : asyncio_interpreters())
        for (const bool python_tasks : {false, true})
            if (!python_tasks || interpreter.label == "3.13")
                DYNAMIC_SECTION(interpreter.label << (python_tasks ? " pure-Python Task" : " C Task")) {
                    StallService target(interpreter, "stalls", python_tasks);
                    check_stalls(target, record_stalls(target, "perf"));
                }
}

TEST_CASE("Python: record --asyncio on the ptrace engine tells the same stalls", "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    StallService target(interpreter, "stalls", false);
    check_stalls(target, record_stalls(target, "ptrace"));
}

TEST_CASE("Python: record --asyncio finds no stall in a loop that only waits in select",
          "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            StallService target(interpreter, "idle", false);
            RecordedStalls recorded = record_stalls(target, engine);
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
    const Interpreter interpreter = stall_service_python();
    StallService target(interpreter, "stalls", false);
    RecordedStalls recorded = record_stalls(target, "perf", {"--stalls-only"});
    INFO(recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const auto folded = parse_folded(recorded.folded);
    INFO("folded:\n" << recorded.folded);
    // The decoder's CPU-bound stalls are on-CPU samples; chatter runs between stalls only.
    CHECK(samples_matching(folded, "decode_body") >
          5); // 3 or 4 decodes of 20 on-CPU samples each, on a quiet machine
    CHECK(samples_matching(folded, "chatter") == 0);
    // Every sample kept was taken while a stalling callback ran: the decoder or the sleeper,
    // or (rarely, at a stall's edge) the loop's Handle._run just before it entered the
    // coroutine or just after it returned. None is the loop waiting between callbacks.
    CHECK(samples_matching(folded, "Handle._run") == total_samples(folded));
    CHECK(samples_matching(folded, "decode_body") + samples_matching(folded, "sleeper") >=
          total_samples(folded) * 9 / 10);
    CHECK(recorded.result.err.find("--stalls-only: the profile holds the") != std::string::npos);
}

TEST_CASE("Python: --stall-threshold sets what counts, and the stall flags need --asyncio",
          "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    StallService target(interpreter, "stalls", false);
    // 175 ms: the 200 ms decodes count, the 150 ms sleeps do not.
    RecordedStalls recorded = record_stalls(target, "perf", {"--stall-threshold", "175"});
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

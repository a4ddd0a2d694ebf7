// `top --asyncio` on python/stall_service.py (see stall_service.hpp): the header tells the last
// window's stalls (how many, the longest, the share of the window the loop was blocked), the
// culprit table names the task, coroutine and innermost frame that blocked it and never the
// short steps; a loop that only waits in select has none. Plain text (--once) on both engines,
// and the full-screen view's key S through tmux.
#include "process_helpers.hpp"
#include "skips.hpp"
#include "stall_service.hpp"
#include "tmux_server.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <regex>
#include <sstream>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

constexpr double interval_ms = 10; // at -r 100

struct StallHeader {
    std::uint64_t count = 0;
    double longest_ms = -1; // -1: "-", none
    double blocked_percent = -1;
};

// The header's asyncio line: "asyncio   stalls 2   longest 212 ms   blocked 28.4%   (...)".
std::optional<StallHeader> stall_header(const std::string& text) {
    static const std::regex line(R"(asyncio   stalls (\d+)   longest (-|(\d+) ms)   blocked ([0-9.]+)%)");
    std::smatch match;
    if (!std::regex_search(text, match, line))
        return std::nullopt;
    StallHeader header;
    header.count = std::stoull(match[1].str());
    if (match[3].matched)
        header.longest_ms = std::stod(match[3].str());
    header.blocked_percent = std::stod(match[4].str());
    return header;
}

struct CulpritRow {
    std::uint64_t count = 0;
    double max_ms = 0;
    std::string label;
};

// The rows under the culprit table's column titles.
std::vector<CulpritRow> culprit_rows(const std::string& text) {
    std::vector<CulpritRow> rows;
    std::istringstream lines(text);
    bool in_table = false;
    for (std::string line; std::getline(lines, line);) {
        if (!in_table) {
            in_table = line.find("Stalls   Blocked") != std::string::npos &&
                       line.find("Culprit") != std::string::npos;
            continue;
        }
        std::istringstream fields(line);
        CulpritRow row;
        std::string blocked, unit;
        if (!(fields >> row.count >> blocked >> row.max_ms >> unit) || unit != "ms")
            break;
        std::getline(fields >> std::ws, row.label);
        rows.push_back(row);
    }
    return rows;
}

bool is_decoder_culprit(const std::string& label) {
    return label.starts_with("decoder decoder (") &&
           label.find(":" + std::to_string(line_of_marker(stall_service_path(), "MARK: decode")) +
                      ") > burn (") != std::string::npos;
}

// Whether `row` is of task `task` (its culprit's first word) and its longest stall is a block
// the service measured of that task.
bool measured_block(const StallService& target, const CulpritRow& row, const std::string& task) {
    return row.label.starts_with(task + " ") && target.matches_made(task, row.max_ms, interval_ms);
}

// Only the two that block: never the 3 ms steps of chatter run back to back, nor the ticker;
// unless a loaded machine stretched one of them into a block the service measured itself.
void check_culprit(const StallService& target, const CulpritRow& row) {
    INFO("culprit: " << row.label);
    CHECK(row.count >= 1);
    if (measured_block(target, row, "chatter"))
        return;
    CHECK((row.label.starts_with("decoder ") || row.label.starts_with("sleeper ")));
    CHECK(row.label.find("chatter") == std::string::npos);
}

double made_extreme(const StallService& target, const std::string& task, bool longest) {
    double extreme = longest ? 0 : 1e9;
    for (const auto& [name, seconds] : target.made())
        if (task.empty() || name == task)
            extreme = longest ? std::max(extreme, 1000 * seconds) : std::min(extreme, 1000 * seconds);
    return extreme;
}

struct TopOnce {
    CommandResult result;
    StallHeader header;
};

// `top --asyncio --once` over a 2.5 s window of the service, at 100 Hz on `engine`: it succeeded
// and its header has the asyncio line.
TopOnce top_once(const StallService& target, const std::string& engine, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "top", "--asyncio", "--once",  "--capture", engine, "--pid", std::to_string(target.process.pid()),
        "-r",  "100",       "--delay", "2.5"};
    args.insert(args.end(), extra.begin(), extra.end());
    TopOnce top{run_sampler(args), {}};
    INFO("stdout:\n" << top.result.out << "stderr:\n" << top.result.err);
    REQUIRE(top.result.exit_code == 0);
    auto header = stall_header(top.result.out);
    REQUIRE(header);
    top.header = *header;
    return top;
}

} // namespace

TEST_CASE("Python: top --asyncio tells the last window's stalls in its header, and their culprits",
          "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            StallService target(interpreter, "stalls", false);
            const auto [result, header] = top_once(target, engine);
            INFO("stdout:\n" << result.out << "stderr:\n" << result.err);
            // A 2.5 s window holds at least one whole 200 ms decode (one every 1.2 s): the longest
            // is at least one of them, and no longer than the longest block the service measured
            // (a decode, unless a loaded machine stretched a sleep or a 3 ms step further), each
            // within a sample interval + 10%.
            CHECK(header.count >= 1);
            const double shortest_decode = made_extreme(target, "decoder", false);
            const double longest_block = made_extreme(target, "", true);
            CHECK(header.longest_ms >= shortest_decode - (interval_ms + 0.1 * shortest_decode));
            CHECK(header.longest_ms <= longest_block + interval_ms + 0.1 * longest_block);
            // About 200 ms + 150 ms blocked every 1.2 s: near 30% of the window.
            CHECK(header.blocked_percent > 10);
            CHECK(header.blocked_percent < 60);

            const std::vector<CulpritRow> rows = culprit_rows(result.out);
            REQUIRE(!rows.empty());
            bool decoder = false;
            for (const CulpritRow& row : rows) {
                decoder = decoder || is_decoder_culprit(row.label);
                check_culprit(target, row);
            }
            CHECK(decoder);
            check_target_runs_on(target.process.pid());
        }
}

TEST_CASE("Python: top --asyncio finds no stall in a loop that only waits in select",
          "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            StallService target(interpreter, "idle", false);
            const auto [result, header] = top_once(target, engine);
            INFO("stdout:\n" << result.out << "stderr:\n" << result.err);
            CHECK(header.count == 0);
            CHECK(header.longest_ms == -1);
            CHECK(header.blocked_percent == 0);
            CHECK(culprit_rows(result.out).empty());
            CHECK(result.out.find("(no stall of 100 ms or more yet)") != std::string::npos);
            CHECK(result.out.find("no event loop") == std::string::npos);
        }
}

TEST_CASE("Python: top --stall-threshold sets what counts, and needs --asyncio", "[python][asyncio][perf]") {
    const Interpreter interpreter = stall_service_python();
    StallService target(interpreter, "stalls", false);
    // 175 ms: the 200 ms decodes count, the 150 ms sleeps do not.
    const auto [result, header] = top_once(target, "perf", {"--stall-threshold", "175"});
    INFO("stdout:\n" << result.out << "stderr:\n" << result.err);
    CHECK(result.out.find("stalls of 175 ms or more") != std::string::npos);
    CHECK(header.count >= 1);
    const std::vector<CulpritRow> rows = culprit_rows(result.out);
    REQUIRE(!rows.empty());
    for (const CulpritRow& row : rows) {
        INFO("culprit: " << row.label);
        // Blocks a loaded machine stretched past 175 ms are blocks too.
        if (!measured_block(target, row, "sleeper") && !measured_block(target, row, "chatter"))
            CHECK(is_decoder_culprit(row.label));
    }

    CommandResult refused = run_sampler(
        {"top", "--once", "--pid", std::to_string(target.process.pid()), "--stall-threshold", "50"});
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("requires --asyncio") != std::string::npos);
}

TEST_CASE("Python: top --asyncio's key S switches to the stall culprits and back",
          "[python][asyncio][tmux]") {
    const std::string tmux_path = tmux_or_skip();
    const Interpreter interpreter = stall_service_python();
    StallService target(interpreter, "stalls", false);
    const std::string pid = std::to_string(target.process.pid());
    TmuxServer tmux(tmux_path);
    const std::string session = "top-stalls";
    const std::string exit_file = temp_path("top-stalls-exit-" + pid);
    RemovedAtEnd remove_exit_file{exit_file};
    start_session(tmux, session, 200, 40, sampler_binary() + " top --asyncio --delay 0.5 --pid " + pid,
                  exit_file);

    // The header tells stalls once a window has seen one.
    std::string screen = tmux.wait_for(session, [](const std::string& s) {
        auto header = stall_header(s);
        return header && header->count > 0;
    });
    INFO("screen:\n" << screen);
    REQUIRE(stall_header(screen));
    CHECK(stall_header(screen)->count > 0);
    CHECK(screen.find("Function (file:line)") != std::string::npos);

    tmux.send_keys(session, "S");
    screen = tmux.wait_for(session, [](const std::string& s) {
        auto rows = culprit_rows(s);
        return std::any_of(rows.begin(), rows.end(),
                           [](const CulpritRow& row) { return is_decoder_culprit(row.label); });
    });
    UNSCOPED_INFO("after S:\n" << screen);
    CHECK(screen.find("stall culprits since the start or R, sorted by Blocked") != std::string::npos);
    const std::vector<CulpritRow> rows = culprit_rows(screen);
    CHECK(std::any_of(rows.begin(), rows.end(),
                      [](const CulpritRow& row) { return is_decoder_culprit(row.label); }));
    for (const CulpritRow& row : rows)
        check_culprit(target, row);

    tmux.send_keys(session, "S");
    // Until the culprits' rows are gone too: a screen captured mid-draw has the new header
    // above the old rows.
    screen = tmux.wait_for(session, [](const std::string& s) {
        return s.find("Function (file:line)") != std::string::npos && culprit_rows(s).empty();
    });
    UNSCOPED_INFO("after S again:\n" << screen);
    CHECK(screen.find("by function, all threads") != std::string::npos);
    CHECK(culprit_rows(screen).empty());

    tmux.send_keys(session, "?");
    // For the line itself, not the box's title: a screen captured while the box is being drawn
    // has the title and not yet the lines below it.
    screen = tmux.wait_for(session, [](const std::string& s) {
        return s.find("the stall culprits / back (--asyncio)") != std::string::npos;
    });
    if (screen.find("the stall culprits / back (--asyncio)") == std::string::npos)
        // What a failure needs first, before any earlier message: whether top still ran.
        FAIL_CHECK("no help after ?: tmux sessions [" << tmux.run({"list-sessions"}).out
                                                      << "], exit code file [" << read_file(exit_file)
                                                      << "], screen:\n"
                                                      << screen);
    tmux.send_keys(session, "q");
    CHECK(wait_for_exit_code(exit_file) == "0\n");
    check_target_runs_on(target.process.pid());
}

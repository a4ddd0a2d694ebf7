// `sampler top` against the fixture: plain-text snapshots when stdout is not a terminal, and the
// full-screen view driven through tmux (keys, pause, resize, quit) with the target left running.
#include "process_helpers.hpp"
#include "skips.hpp"
#include "tmux_server.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

// The column titles: once per snapshot ("%Own" is also in the header's "sorted by %Own").
const std::string column_titles = "Function (file:line)";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

struct TableRow {
    double own = -1;
    double total = -1;
    std::string label; // empty when there is no row
};

// The rows under the first column-title line of `text` (a screen or a plain-text snapshot).
std::vector<TableRow> table_rows(const std::string& text) {
    std::vector<TableRow> rows;
    bool in_table = false;
    for (const std::string& line : lines_of(text)) {
        if (!in_table) {
            // By the numeric columns' titles, which survive a narrow terminal.
            in_table = contains(line, "%Own") && contains(line, "%Total") && contains(line, "OwnTime");
            continue;
        }
        std::istringstream fields(line);
        TableRow row;
        std::string own_time, total_time;
        if (!(fields >> row.own >> row.total >> own_time >> total_time))
            break; // the end of the table (a blank line, or the next snapshot)
        std::getline(fields >> std::ws, row.label);
        rows.push_back(row);
    }
    return rows;
}

TableRow first_row(const std::string& text) {
    auto rows = table_rows(text);
    return rows.empty() ? TableRow{} : rows.front();
}

bool is_hot_function(const std::string& label) {
    return label == "mix_step(unsigned long)" || label == "burn(unsigned long)";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++count;
    return count;
}

} // namespace

TEST_CASE("top --once prints one snapshot, the hot function first", "[top]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    CommandResult result = run_sampler({"top", "--pid", std::to_string(target.pid()), "--once", "-r", "200"});
    INFO("stdout:\n" << result.out << "stderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(count_of(result.out, column_titles) == 1);
    CHECK(contains(result.out, "PID " + std::to_string(target.pid())));
    CHECK(contains(result.out, "workload split"));

    auto rows = table_rows(result.out);
    REQUIRE(rows.size() >= 5);
    CHECK(is_hot_function(rows[0].label));
    double heavy = -1, light = -1, hot_own = 0;
    for (const TableRow& row : rows) {
        if (is_hot_function(row.label))
            hot_own += row.own;
        if (row.label == "parent_heavy()")
            heavy = row.total;
        if (row.label == "parent_light()")
            light = row.total;
        CHECK(row.own <= row.total);
    }
    CHECK(heavy > light);
    CHECK(light > 0);
    // Nearly all the time both callers took is the loop's own (burn() and its inline helper): a
    // share of what the target ran, whatever CPU a busy machine left it.
    CHECK(hot_own > 0.8 * (heavy + light));
    check_target_runs_on(target.pid());
}

TEST_CASE("top without a terminal prints a snapshot every --delay until Ctrl-C", "[top]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    ChildProcess top(
        {sampler_binary(), "top", "--pid", std::to_string(target.pid()), "--delay", "0.3", "--rows", "3"});
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (count_of(top.output(), column_titles) < 3 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    top.signal(SIGINT);
    int code = top.wait(10s);
    std::string out = top.output();
    INFO("stdout:\n" << out << "stderr:\n" << top.errors());
    CHECK(code == 0);
    REQUIRE(count_of(out, column_titles) >= 3);
    // Each snapshot holds at most --rows rows.
    std::size_t at = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        at = out.find(column_titles, at) + 1;
        auto rows = table_rows(out.substr(out.rfind('\n', at) + 1));
        CHECK(rows.size() == 3);
        CHECK(is_hot_function(rows.at(0).label));
    }
    check_target_runs_on(target.pid());
}

TEST_CASE("top --once shows what it has when the command exits first", "[top]") {
    // About 1.4 s of work: sampling starts a few tenths of a second after the command's exec
    // (symbols are read first), more under ASan on a slow machine; 0.3 s of work sometimes
    // ended before the first sample.
    CommandResult result = run_sampler(
        {"top", "--once", "--delay", "30", "-r", "200", "--", fixture_path("workload"), "bench", "2000"});
    INFO("stdout:\n" << result.out << "stderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(count_of(result.out, column_titles) == 1);
    CHECK(contains(result.out, "parent_heavy()"));
    CHECK(contains(result.err, "exited"));
    // sampler's exit code is then the command's.
    CommandResult failed =
        run_sampler({"top", "--once", "--delay", "30", "--", "sh", "-c", "sleep 0.3; exit 5"});
    INFO("stderr:\n" << failed.err);
    CHECK(failed.exit_code == 5);
    CHECK(contains(failed.err, "sampler: the command exited with status 5"));
}

TEST_CASE("top on a terminal its host has no terminfo entry for prints plain text instead", "[top][tmux]") {
    const std::string tmux_path = tmux_or_skip();
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());
    TmuxServer tmux(tmux_path);
    const std::string session = "top-no-terminfo";
    const std::string exit_file = temp_path("top-no-terminfo-exit-" + pid);
    RemovedAtEnd remove_exit_file{exit_file};
    // A terminal (the tmux pane), but a TERM no terminfo database has: a slim container's case.
    start_session(tmux, session, 160, 40,
                  "TERM=no-such-terminal " + sampler_binary() + " top --delay 0.5 --pid " + pid, exit_file);
    std::string screen =
        tmux.wait_for(session, [](const std::string& s) { return contains(s, "parent_heavy()"); });
    INFO("screen:\n" << screen);
    CHECK(contains(screen, "no terminal description for TERM=no-such-terminal"));
    CHECK(contains(screen, "plain-text snapshots instead"));
    CHECK(contains(screen, column_titles));
    CHECK(contains(screen, "parent_heavy()"));
    tmux.send_keys(session, "C-c");
    CHECK(wait_for_exit_code(exit_file) == "0\n");
    check_target_runs_on(target.pid());
}

TEST_CASE("top's full-screen view answers keys and leaves the target running", "[top][tmux]") {
    const std::string tmux_path = tmux_or_skip();
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());
    TmuxServer tmux(tmux_path);
    const std::string session = "top";
    const std::string exit_file = temp_path("top-exit-" + pid);
    RemovedAtEnd remove_exit_file{exit_file};
    start_session(tmux, session, 160, 40, sampler_binary() + " top --pid " + pid, exit_file);

    SECTION("the hot function leads, 2 sorts by %Total, P pauses, q quits") {
        std::string screen =
            tmux.wait_for(session, [](const std::string& s) { return first_row(s).own > 0; });
        INFO("screen:\n" << screen);
        REQUIRE(first_row(screen).own > 0);
        CHECK(is_hot_function(first_row(screen).label));
        CHECK(contains(screen, "PID " + pid));
        CHECK(contains(screen, "sorted by %Own"));

        // By %Total the outermost frame leads: every stack starts at the program's entry point.
        tmux.send_keys(session, "2");
        // Until the rows are redrawn too: a screen captured mid-draw has the new header above
        // the old rows.
        screen = tmux.wait_for(session, [](const std::string& s) {
            auto rows = table_rows(s);
            return contains(s, "sorted by %Total") && !rows.empty() && rows[0].label == "_start";
        });
        UNSCOPED_INFO("after 2:\n" << screen);
        auto rows = table_rows(screen);
        REQUIRE(!rows.empty());
        CHECK(rows[0].label == "_start");
        CHECK(rows[0].total > 0);
        // Every unwound stack reaches it, so nothing has more (errors on a busy machine lower
        // every share alike: they are shares of sampling rounds).
        for (const TableRow& row : rows)
            CHECK(row.total <= rows[0].total);

        tmux.send_keys(session, "P");
        screen = tmux.wait_for(session, [](const std::string& s) { return contains(s, "PAUSED"); });
        UNSCOPED_INFO("after P:\n" << screen);
        CHECK(contains(screen, "PAUSED"));

        tmux.send_keys(session, "q");
        const std::string exit_code = wait_for_exit_code(exit_file);
        UNSCOPED_INFO("after q:\n" << tmux.capture(session));
        CHECK(exit_code == "0\n");
        // The terminal is restored: the full-screen view is gone from the pane.
        CHECK_FALSE(contains(tmux.capture(session), column_titles));
        check_target_runs_on(target.pid());
    }

    SECTION("L shows lines, T one thread, and a resize redraws within the new width") {
        tmux.wait_for(session, [](const std::string& s) { return first_row(s).own > 0; });
        tmux.send_keys(session, "L");
        std::string line = ":" +
                           std::to_string(line_of_marker(source_path("tests/fixtures/workload.cpp"),
                                                         "MIX_STEP_FIRST_LINE")) +
                           ")";
        std::string screen = tmux.wait_for(session, [&](const std::string& s) { return contains(s, line); });
        INFO("after L:\n" << screen);
        CHECK(contains(screen, "by line"));
        CHECK(contains(screen,
                       "mix_step(unsigned long) (" + source_path("tests/fixtures/workload.cpp") + line));

        tmux.send_keys(session, "T");
        screen = tmux.wait_for(session, [&](const std::string& s) { return contains(s, "thread " + pid); });
        UNSCOPED_INFO("after T:\n" << screen);
        CHECK(contains(screen, "thread " + pid + " (workload), 1 of 1"));

        tmux.run({"resize-window", "-t", session, "-x", "60", "-y", "15"});
        screen = tmux.wait_for(session, [](const std::string& s) {
            return contains(lines_of(s).at(0), "...") && !table_rows(s).empty();
        });
        UNSCOPED_INFO("after resize:\n" << screen);
        auto lines = lines_of(screen);
        REQUIRE(!lines.empty());
        // The title is cut to the width with "...", not wrapped onto the next line.
        CHECK(lines[0].size() == 60);
        CHECK(lines[0].substr(57) == "...");
        CHECK(contains(lines[1], "elapsed"));
        CHECK(!table_rows(screen).empty());
        tmux.send_keys(session, "q");
    }

    SECTION("W shows the process table, Enter one process's functions, W goes back") {
        tmux.wait_for(session, [](const std::string& s) { return first_row(s).own > 0; });
        tmux.send_keys(session, "W");
        // The one process's row: the line whose first field is its PID.
        const auto process_row = [&](const std::string& s) {
            for (const std::string& line : lines_of(s)) {
                std::istringstream fields(line);
                std::string first;
                if (fields >> first && first == pid)
                    return line;
            }
            return std::string();
        };
        // The view's header can be on the screen a moment before its rows: wait for both.
        std::string screen = tmux.wait_for(session, [&](const std::string& s) {
            return contains(s, "by process, sorted by %CPU") && !process_row(s).empty();
        });
        INFO("after W:\n" << screen);
        REQUIRE(contains(screen, "Hottest function"));
        // The one process, with its CPU share and its hottest function.
        const std::string row = process_row(screen);
        UNSCOPED_INFO("row: " << row);
        CHECK((contains(row, "mix_step(unsigned long)") || contains(row, "burn(unsigned long)")));

        tmux.send_keys(session, "Enter");
        // The view's header can be on the screen a moment before its rows: wait for both.
        screen = tmux.wait_for(session, [&](const std::string& s) {
            return contains(s, "process " + pid + " (") && !table_rows(s).empty();
        });
        UNSCOPED_INFO("after Enter:\n" << screen);
        CHECK(contains(screen, "by function, process " + pid + " ("));
        CHECK(contains(screen, "1 of 1, all threads"));
        CHECK(!table_rows(screen).empty());

        tmux.send_keys(session, "W");
        screen = tmux.wait_for(session, [](const std::string& s) { return contains(s, "by process"); });
        UNSCOPED_INFO("after W again:\n" << screen);
        CHECK(contains(screen, "by process, sorted by %CPU"));
        tmux.send_keys(session, "q");
    }
}

// `sampler top`'s pure table: counting (own, total once per sample), windows, merging threads,
// sorting, and the text it formats.
#include "top_counts.hpp"
#include "top_header.hpp"
#include "top_stalls.hpp"
#include "top_table.hpp"
#include "top_text.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

namespace {

// A stack, innermost first, whose line labels are "name:LINE".
std::vector<TopFrameLabels> stack(std::initializer_list<std::pair<const char*, int>> frames) {
    std::vector<TopFrameLabels> labels;
    for (const auto& [name, line] : frames)
        labels.push_back({name, std::string(name) + ":" + std::to_string(line)});
    return labels;
}

const TopRow* find(const std::vector<TopRow>& rows, const std::string& label) {
    for (const TopRow& row : rows)
        if (row.label == label)
            return &row;
    return nullptr;
}

std::vector<std::string> labels_of(const std::vector<TopRow>& rows) {
    std::vector<std::string> labels;
    for (const TopRow& row : rows)
        labels.push_back(row.label);
    return labels;
}

} // namespace

TEST_CASE("top: own counts the innermost frame, total counts a recursive function once", "[top]") {
    TopCounter counter;
    // leaf <- recurse <- recurse <- recurse <- main
    counter.add_stack({.tid = 1, .name = "main"},
                      stack({{"leaf", 1}, {"recurse", 5}, {"recurse", 6}, {"recurse", 6}, {"main", 9}}));
    counter.add_stack({.tid = 1, .name = "main"}, stack({{"recurse", 4}, {"recurse", 6}, {"main", 9}}));
    counter.add_rounds(2);
    TopSnapshot snapshot = counter.end_window();
    auto rows = build_top_rows(snapshot, TopView{});

    const TopRow* recurse = find(rows, "recurse");
    REQUIRE(recurse);
    CHECK(recurse->window.own == 1);
    CHECK(recurse->window.total == 2); // not 5: once per sample
    CHECK(recurse->accumulated.total == 2);
    const TopRow* main_row = find(rows, "main");
    REQUIRE(main_row);
    CHECK(main_row->window.own == 0);
    CHECK(main_row->window.total == 2);
    CHECK(find(rows, "leaf")->window.own == 1);
}

TEST_CASE("top: shares cover the last window, times everything since the start", "[top]") {
    TopCounter counter;
    for (int i = 0; i < 4; ++i)
        counter.add_stack({.tid = 1, .name = "t"}, stack({{"old", 1}, {"main", 2}}));
    counter.add_rounds(4);
    counter.end_window();
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"new", 1}, {"main", 2}}));
    counter.add_rounds(2);
    TopSnapshot snapshot = counter.end_window();
    CHECK(snapshot.window_rounds == 2);
    CHECK(snapshot.accumulated_rounds == 6);

    auto rows = build_top_rows(snapshot, TopView{});
    const TopRow* old_row = find(rows, "old");
    REQUIRE(old_row); // still listed: it has history
    CHECK(old_row->window.own == 0);
    CHECK(old_row->accumulated.own == 4);
    CHECK(find(rows, "new")->window.own == 1);
    CHECK(labels_of(rows) == std::vector<std::string>{"new", "old", "main"});

    auto lines = format_top_table(rows, {.window_rounds = 2, .rate_hz = 100});
    REQUIRE(lines.size() == 4);
    // new: 1 of 2 rounds in the window = 50%; 1 sample at 100 Hz = 0.01 s since the start.
    CHECK(lines[1] == "  50.0     50.0       0.01s       0.01s  new");
    CHECK(lines[2] == "   0.0      0.0       0.04s       0.04s  old");
    CHECK(lines[3] == "   0.0     50.0       0.00s       0.05s  main");
    CHECK(lines[0].find("%Own") != std::string::npos);

    SECTION("a reset forgets everything") {
        counter.reset();
        counter.add_rounds(1);
        TopSnapshot empty = counter.end_window();
        CHECK(build_top_rows(empty, TopView{}).empty());
        CHECK(empty.accumulated_rounds == 1);
    }
}

TEST_CASE("top: the keys 1-4 sort by each column, with stable tie-breaks", "[top]") {
    TopCounter counter;
    // Accumulated history: deep_own ran long ago in its own code.
    for (int i = 0; i < 10; ++i)
        counter.add_stack({.tid = 1, .name = "t"}, stack({{"deep_own", 1}, {"main", 2}}));
    counter.add_rounds(10);
    counter.end_window();
    // The window: hot is innermost 3 times, caller holds it and another callee.
    for (int i = 0; i < 3; ++i)
        counter.add_stack({.tid = 1, .name = "t"}, stack({{"hot", 1}, {"caller", 2}, {"main", 3}}));
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"cold", 1}, {"caller", 2}, {"main", 3}}));
    counter.add_rounds(4);
    TopSnapshot snapshot = counter.end_window();

    auto order = [&](TopSort sort) { return labels_of(build_top_rows(snapshot, {.sort = sort})); };
    // Own: the window's own, then own since the start, then the totals; callers before callees.
    CHECK(order(TopSort::own) == std::vector<std::string>{"hot", "cold", "deep_own", "main", "caller"});
    CHECK(order(TopSort::total) == std::vector<std::string>{"main", "caller", "hot", "cold", "deep_own"});
    CHECK(order(TopSort::own_time) == std::vector<std::string>{"deep_own", "hot", "cold", "main", "caller"});
    CHECK(order(TopSort::total_time) ==
          std::vector<std::string>{"main", "deep_own", "caller", "hot", "cold"});
}

TEST_CASE("top: line mode splits a function by line, function mode merges it", "[top]") {
    TopCounter counter;
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"burn", 10}, {"main", 2}}));
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"burn", 10}, {"main", 2}}));
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"burn", 11}, {"main", 3}}));
    counter.add_rounds(3);
    TopSnapshot snapshot = counter.end_window();

    auto by_function = build_top_rows(snapshot, {.mode = TopMode::function});
    CHECK(labels_of(by_function) == std::vector<std::string>{"burn", "main"});
    CHECK(find(by_function, "burn")->window.own == 3);

    auto by_line = build_top_rows(snapshot, {.mode = TopMode::line});
    CHECK(labels_of(by_line) == std::vector<std::string>{"burn:10", "burn:11", "main:2", "main:3"});
    CHECK(find(by_line, "burn:10")->window.own == 2);
    CHECK(find(by_line, "main:2")->window.total == 2);
}

TEST_CASE("top: all threads are summed, or one thread is shown alone", "[top]") {
    TopCounter counter;
    counter.add_stack({.tid = 10, .name = "main"}, stack({{"a", 1}}));
    counter.add_stack({.tid = 20, .name = "worker"}, stack({{"a", 1}}));
    counter.add_stack({.tid = 20, .name = "worker"}, stack({{"b", 1}}));
    counter.add_rounds(2);
    TopSnapshot snapshot = counter.end_window();
    CHECK(snapshot.window.size() == 2);
    CHECK(snapshot.accumulated.at(20).name == "worker");

    CHECK(find(build_top_rows(snapshot, {}), "a")->window.own == 2);
    auto worker = build_top_rows(snapshot, {.thread = 20});
    CHECK(labels_of(worker) == std::vector<std::string>{"a", "b"});
    CHECK(find(worker, "a")->window.own == 1);
    CHECK(build_top_rows(snapshot, {.thread = 99}).empty());
}

TEST_CASE("top: a snapshot stays as it was while counting goes on", "[top]") {
    TopCounter counter;
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"first", 1}}));
    counter.add_rounds(1);
    TopSnapshot frozen = counter.end_window();
    counter.add_stack({.tid = 1, .name = "t"}, stack({{"second", 1}})); // a new label grows the label table
    counter.add_rounds(1);
    counter.end_window();
    CHECK(*frozen.labels == std::vector<std::string>{"first", "first:1"});
    CHECK(labels_of(build_top_rows(frozen, {})) == std::vector<std::string>{"first"});
}

TEST_CASE("top: every line fits the width, cut cleanly", "[top]") {
    std::vector<TopRow> rows{
        {.label = "a_very_long_function_name(with, many, arguments) (/src/some/file.cpp:123)",
         .window = {1, 1},
         .accumulated = {1, 1}},
        {.label = "short", .window = {1, 1}, .accumulated = {1, 1}}};
    for (std::size_t width : {60, 45, 20, 5, 1}) {
        auto lines = format_top_table(rows, {.window_rounds = 1, .rate_hz = 100, .width = width});
        for (const std::string& line : lines)
            CHECK(display_width(line) <= width);
    }
    auto lines = format_top_table(rows, {.window_rounds = 1, .rate_hz = 100, .width = 60});
    CHECK(lines[1].size() == 60);
    CHECK(lines[1].substr(57) == "...");
    CHECK(lines[2].find("short") != std::string::npos);
    CHECK(lines[2].find("...") == std::string::npos);

    CHECK(format_top_table(rows, {.window_rounds = 1, .max_rows = 1}).size() == 2);
}

TEST_CASE("top: names are printable and cut at character boundaries", "[top]") {
    CHECK(printable("evil\x1b[2Jname\n") == "evil?[2Jname?");
    CHECK(display_width("f\xc3\xbc\xc3\xbcr") == 4); // "füür"
    CHECK(fit_to_width("f\xc3\xbc\xc3\xbcr-and-more", 6) == "f\xc3\xbc\xc3\xbc...");
    CHECK(fit_to_width("f\xc3\xbc\xc3\xbcr-and-more", 2) == "f\xc3\xbc");
    CHECK(fit_to_width("abcdef", 2) == "ab");
    CHECK(fit_to_width("abcdef", 0) == "abcdef");
    CHECK(fit_to_width("abcdef", 6) == "abcdef");
}

TEST_CASE("top: the header warns when behind the rate and when paused", "[top]") {
    TopStatus status{.pids = {42}, .command_line = "./server --port 1", .elapsed_seconds = 3, .samples = 300};
    status.achieved_rate_hz = 95;
    status.thread_label = "all threads";
    auto text = [](const std::vector<TopLine>& lines) {
        std::string all;
        for (const TopLine& line : lines)
            all += line.text + "\n";
        return all;
    };
    std::string normal = text(format_top_header(status, 0));
    CHECK(normal.find("PID 42") != std::string::npos);
    CHECK(normal.find("./server --port 1") != std::string::npos);
    CHECK(normal.find("rate 95.0 of 100 Hz") != std::string::npos);
    CHECK(normal.find("BEHIND") == std::string::npos);
    CHECK(normal.find("GIL") == std::string::npos);
    CHECK(normal.find("processes") == std::string::npos);
    CHECK(format_top_header(status, 0).size() == 3); // no empty warning line in plain text

    TopStatus python = status;
    python.python_version = "3.12.1";
    python.gil_percent = 87.5;
    python.active_percent = 99;
    python.processes = 3;
    std::string with_python = text(format_top_header(python, 0));
    CHECK(with_python.find("Python 3.12.1") != std::string::npos);
    CHECK(with_python.find("GIL 87.5%   active 99.0%") != std::string::npos);
    CHECK(with_python.find("processes 3") != std::string::npos);

    status.achieved_rate_hz = 80;
    status.paused = true;
    status.errors = 1;
    status.thread_samples = 3;
    auto lines = format_top_header(status, 50);
    std::string warned = text(lines);
    CHECK(warned.find("BEHIND") != std::string::npos);
    CHECK(lines.back().style == TopLineStyle::warning);
    CHECK(text(format_top_header(status, 0)).find("PAUSED") != std::string::npos);
    CHECK(text(format_top_header(status, 0)).find("errors 25.0%") != std::string::npos);
    for (const TopLine& line : lines)
        CHECK(display_width(line.text) <= 50);

    // perf_event engine: the kept share is shown, and it decides whether sampling is behind.
    TopStatus perf = status;
    perf.paused = false;
    perf.achieved_rate_hz = 100;
    perf.kept_percent = 97.5;
    CHECK(text(format_top_header(perf, 0)).find("rate 100.0 of 100 Hz   kept 97.5%") != std::string::npos);
    CHECK(text(format_top_header(perf, 0)).find("BEHIND") == std::string::npos);
    perf.kept_percent = 60;
    CHECK(text(format_top_header(perf, 0)).find("BEHIND: kept 60.0%") != std::string::npos);
    CHECK(text(format_top_header(status, 0)).find("kept") == std::string::npos);

    CHECK(top_behind_rate(89.9, 100));
    CHECK_FALSE(top_behind_rate(90, 100));
}

TEST_CASE("top --asyncio: the header tells the last window's stalls", "[top][stalls]") {
    TopStallStatus stalls{.watching = true, .threshold_ms = 100, .loops = 1};
    stalls.count = 2;
    stalls.longest_ms = 212.4;
    stalls.blocked_percent = 28.44;
    CHECK(format_top_stall_line(stalls) ==
          "asyncio   stalls 2   longest 212 ms   blocked 28.4%   (last window; stalls of 100 ms or more)");
    TopStallStatus none{.watching = true, .threshold_ms = 50, .loops = 1};
    CHECK(format_top_stall_line(none) ==
          "asyncio   stalls 0   longest -   blocked 0.0%   (last window; stalls of 50 ms or more)");
    stalls.loops = 3;
    CHECK(format_top_stall_line(stalls).find("blocked 28.4% (the most blocked of 3 loops)") !=
          std::string::npos);
    none.loops = 0;
    CHECK(format_top_stall_line(none).find("no event loop with tasks found yet") != std::string::npos);
    CHECK(format_top_stall_line(TopStallStatus{}).empty());

    // The line sits under the statistics, only with --asyncio.
    TopStatus status{.pids = {42}, .elapsed_seconds = 3, .samples = 300};
    status.thread_label = "all threads";
    CHECK(format_top_header(status, 0).size() == 3);
    status.stalls = stalls;
    auto lines = format_top_header(status, 0);
    REQUIRE(lines.size() == 4);
    CHECK(lines[2].text.starts_with("asyncio   stalls 2"));
    CHECK(lines[3].text.starts_with("by function"));
    status.view.stalls = true;
    CHECK(format_top_header(status, 0)[3].text.starts_with(
        "stall culprits since the start or R, sorted by Blocked"));
    for (const TopLine& line : format_top_header(status, 30))
        CHECK(display_width(line.text) <= 30);
}

TEST_CASE("top --asyncio: the culprit table, one row per culprit, within the width", "[top][stalls]") {
    std::vector<TopStallRow> rows{{.label = "decoder decoder (service.py:41) > burn (service.py:16)",
                                   .count = 3,
                                   .blocked_seconds = 0.6124,
                                   .max_ms = 210.2},
                                  {.label = "sleeper sleeper (service.py:50)\x1b[2J",
                                   .count = 12,
                                   .blocked_seconds = 1.8,
                                   .max_ms = 151}};
    auto lines = format_top_stall_table(rows, 0, 0);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "Stalls   Blocked       Max  Culprit (task coroutine > innermost frame)");
    CHECK(lines[1] == "     3     0.61s    210 ms  decoder decoder (service.py:41) > burn (service.py:16)");
    CHECK(lines[2] == "    12     1.80s    151 ms  sleeper sleeper (service.py:50)?[2J");
    auto [start, width] = top_stall_column_span();
    CHECK(lines[0].substr(start, width) == " Blocked");
    CHECK(format_top_stall_table(rows, 0, 1).size() == 2);
    for (std::size_t columns : {50, 20, 3})
        for (const std::string& line : format_top_stall_table(rows, columns, 0))
            CHECK(display_width(line) <= columns);
    CHECK(top_stall_empty_message({.watching = true, .threshold_ms = 100, .loops = 1}) ==
          "(no stall of 100 ms or more yet)");
}

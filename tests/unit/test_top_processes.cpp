// `sampler top`'s process table (key W, --by-process): per-process counts from the threads'
// counts, the shares, sorting by each column, the hottest function, --idle's on-CPU and sleeping
// shares, and one process's function table alone.
#include "top_counts.hpp"
#include "top_header.hpp"
#include "top_processes.hpp"
#include "top_table.hpp"

#include <catch2/catch.hpp>
#include <sstream>

using namespace sampler;

namespace {

std::vector<TopFrameLabels> stack(std::initializer_list<const char*> innermost_first) {
    std::vector<TopFrameLabels> labels;
    for (const char* name : innermost_first)
        labels.push_back({name, std::string(name) + ":1"});
    return labels;
}

// `count` stacks of one thread.
void add(TopCounter& counter, const TopStackInfo& thread, std::initializer_list<const char*> frames,
         int count = 1) {
    for (int i = 0; i < count; ++i)
        counter.add_stack(thread, stack(frames));
}

std::vector<int> pids_of(const std::vector<TopProcessRow>& rows) {
    std::vector<int> pids;
    for (const TopProcessRow& row : rows)
        pids.push_back(row.pid);
    return pids;
}

std::vector<std::string> fields_of(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string field; in >> field;)
        fields.push_back(field);
    return fields;
}

// A pool: master 100 (idle, no stack at all), worker 101 hot in one thread, worker 102 with two
// threads that are warm, worker 103 a little, over a window of 100 rounds.
TopSnapshot pool_window(TopCounter& counter) {
    add(counter, {.pid = 101, .tid = 101, .name = "w1", .holds_gil = true, .python = true}, {"burn", "main"},
        90);
    add(counter, {.pid = 102, .tid = 102, .name = "w2", .holds_gil = true, .python = true}, {"parse", "main"},
        30);
    add(counter, {.pid = 102, .tid = 202, .name = "w2-io", .python = true}, {"read", "loop"}, 20);
    add(counter, {.pid = 103, .tid = 103, .name = "w3", .python = true}, {"notify", "main"}, 1);
    counter.add_rounds(100);
    TopSnapshot snapshot = counter.end_window();
    snapshot.processes = {{100, "gunicorn: master"},
                          {101, "gunicorn: worker"},
                          {102, "gunicorn: worker"},
                          {103, "gunicorn: worker"}};
    return snapshot;
}

} // namespace

TEST_CASE("top processes: one row per process, its threads summed, the hottest worker first", "[top]") {
    TopCounter counter;
    TopSnapshot snapshot = pool_window(counter);
    auto rows = build_top_process_rows(snapshot, TopSort::own);
    REQUIRE(pids_of(rows) == std::vector<int>{101, 102, 103, 100});
    CHECK(rows[0].window.on_cpu == 90);
    CHECK(rows[0].hottest == "burn");
    CHECK(rows[1].window.threads == 2);
    CHECK(rows[1].window.on_cpu == 50);
    CHECK(rows[1].window.gil == 30);
    CHECK(rows[1].hottest == "parse");
    // The master had no stack: listed (it is sampled), with nothing to show.
    CHECK(rows[3].command == "gunicorn: master");
    CHECK(rows[3].window.samples == 0);
    CHECK(rows[3].hottest.empty());

    auto lines = format_top_process_table(rows, {.window_rounds = 100, .accumulated_rounds = 100});
    REQUIRE(lines.size() == 5);
    CHECK(fields_of(lines[0]) == std::vector<std::string>{"PID", "%CPU", "%Avg", "Threads", "%GIL", "Command",
                                                          "Hottest", "function"});
    CHECK(fields_of(lines[1]) ==
          std::vector<std::string>{"101", "90.0", "90.0", "1", "90.0", "gunicorn:", "worker", "burn"});
    CHECK(fields_of(lines[2]) ==
          std::vector<std::string>{"102", "50.0", "50.0", "2", "30.0", "gunicorn:", "worker", "parse"});
    CHECK(fields_of(lines[3])[1] == "1.0");
    // No stack: no GIL share to give, no function.
    CHECK(fields_of(lines[4]) ==
          std::vector<std::string>{"100", "0.0", "0.0", "0", "-", "gunicorn:", "master", "-"});
    // The function column starts at the same place in every line.
    const std::size_t function_column = lines[0].find("Hottest");
    CHECK(lines[1].find("burn") == function_column);
    CHECK(lines[4].rfind('-') == function_column);
}

TEST_CASE("top processes: the keys 1-4 sort by %CPU, %Avg, Threads and %GIL", "[top]") {
    TopCounter counter;
    // Since the start, 102 was the busy one; in the last window, 101 is.
    add(counter, {.pid = 102, .tid = 102, .holds_gil = true, .python = true}, {"old_work"}, 80);
    counter.add_rounds(100);
    counter.end_window();
    TopSnapshot snapshot = pool_window(counter);

    CHECK(pids_of(build_top_process_rows(snapshot, TopSort::own)) == std::vector<int>{101, 102, 103, 100});
    // %Avg: 102 has 130 of 200 rounds, 101 has 90.
    CHECK(pids_of(build_top_process_rows(snapshot, TopSort::total)) == std::vector<int>{102, 101, 103, 100});
    CHECK(pids_of(build_top_process_rows(snapshot, TopSort::own_time)).front() == 102); // 2 threads
    // %GIL in the window: 101 held it 90 times, 102 30 times, the others never (ties: by %CPU).
    CHECK(pids_of(build_top_process_rows(snapshot, TopSort::total_time)) ==
          std::vector<int>{101, 102, 103, 100});

    CHECK(std::string(top_process_sort_name(TopSort::own)) == "%CPU");
    CHECK(std::string(top_process_sort_name(TopSort::total_time)) == "%GIL");
    auto lines = format_top_process_table(build_top_process_rows(snapshot, TopSort::own), {});
    for (TopSort sort : {TopSort::own, TopSort::total, TopSort::own_time, TopSort::total_time}) {
        auto [start, columns] = top_process_column_span(sort);
        std::string title = lines[0].substr(start, columns);
        CHECK(title.find(top_process_sort_name(sort)) != std::string::npos);
    }
}

TEST_CASE("top processes: equal counts keep PID order", "[top]") {
    TopCounter counter;
    for (int pid : {30, 10, 20})
        add(counter, {.pid = pid, .tid = pid}, {"same"}, 5);
    counter.add_rounds(10);
    TopSnapshot snapshot = counter.end_window();
    CHECK(pids_of(build_top_process_rows(snapshot, TopSort::own)) == std::vector<int>{10, 20, 30});
    CHECK(top_process_index(build_top_process_rows(snapshot, TopSort::own), 30) == 2);
    CHECK(top_process_index(build_top_process_rows(snapshot, TopSort::own), 99) == 0);
}

TEST_CASE("top processes: --idle adds each process's on-CPU and sleeping shares", "[top]") {
    TopCounter counter;
    // A busy worker: one thread on its CPU 60 of 100 ticks (off it, runnable, the other 40),
    // one thread asleep throughout. An idle worker: asleep throughout but for one sample.
    add(counter, {.pid = 1, .tid = 1, .holds_gil = true, .python = true}, {"burn"}, 60);
    add(counter, {.pid = 1, .tid = 1, .on_cpu = false, .holds_gil = true, .python = true}, {"burn"}, 40);
    add(counter, {.pid = 1, .tid = 11, .on_cpu = false, .python = true}, {"select"}, 100);
    add(counter, {.pid = 2, .tid = 2, .on_cpu = false, .python = true}, {"select"}, 99);
    add(counter, {.pid = 2, .tid = 2, .python = true}, {"notify"}, 1);
    add(counter, {.pid = 3, .tid = 3, .on_cpu = false, .python = true}, {"select"}, 3000);
    counter.add_rounds(100);
    TopSnapshot snapshot = counter.end_window();
    auto rows = build_top_process_rows(snapshot, TopSort::own);
    REQUIRE(pids_of(rows) == std::vector<int>{1, 2, 3});
    // The hottest function is where it burns CPU, though it slept more.
    CHECK(rows[0].hottest == "burn");
    // An idle worker's: where it waits.
    CHECK(rows[2].hottest == "select");
    // GIL: of on-CPU samples only, so a period is not counted twice.
    CHECK(rows[0].window.gil == 60);

    auto lines =
        format_top_process_table(rows, {.window_rounds = 100, .accumulated_rounds = 100, .idle = true});
    CHECK(fields_of(lines[0])[5] == "%OnCPU");
    CHECK(fields_of(lines[0])[6] == "%Sleep");
    // 60 of its 200 stacks on a CPU.
    CHECK(fields_of(lines[1]) ==
          std::vector<std::string>{"1", "60.0", "60.0", "2", "60.0", "30.0", "70.0", "burn"});
    CHECK(fields_of(lines[2])[5] == "1.0");
    CHECK(fields_of(lines[2])[6] == "99.0");
    // A share that is not zero never reads 0.0.
    add(counter, {.pid = 3, .tid = 3, .python = true}, {"notify"}, 1);
    counter.add_rounds(10000);
    rows = build_top_process_rows(counter.end_window(), TopSort::own);
    lines =
        format_top_process_table(rows, {.window_rounds = 10000, .accumulated_rounds = 10100, .idle = true});
    CHECK(fields_of(lines[1])[0] == "3");
    CHECK(fields_of(lines[1])[1] == "<0.1");
    CHECK(fields_of(lines[1])[5] == "100.0");
    CHECK(fields_of(lines[2])[5] == "-"); // no stack in this window
}

TEST_CASE("top processes: long commands are cut, every line fits the width", "[top]") {
    TopCounter counter;
    add(counter, {.pid = 4242, .tid = 4242}, {"f"}, 1);
    counter.add_rounds(1);
    TopSnapshot snapshot = counter.end_window();
    snapshot.processes = {
        {4242, "/usr/bin/python3 /usr/local/bin/gunicorn --workers 4 --bind 0.0.0.0:8000 app:app"}};
    auto rows = build_top_process_rows(snapshot, TopSort::own);
    auto lines = format_top_process_table(rows, {.window_rounds = 1, .accumulated_rounds = 1});
    CHECK(lines[1].find("/usr/bin/python3 /usr/local...  f") != std::string::npos);
    for (std::size_t width : {20, 45, 80})
        for (const std::string& line : format_top_process_table(rows, {.width = width}))
            CHECK(line.size() <= width);
    CHECK(format_top_process_table(rows, {.max_rows = 1}).size() == 2);
    CHECK(format_top_process_table({}, {}).size() == 1);
}

TEST_CASE("top: one process's functions alone, and the header naming it", "[top]") {
    TopCounter counter;
    TopSnapshot snapshot = pool_window(counter);
    TopView view;
    view.process = 102;
    auto rows = build_top_rows(snapshot, view);
    std::vector<std::string> labels;
    for (const TopRow& row : rows)
        labels.push_back(row.label);
    CHECK(labels == std::vector<std::string>{"parse", "read", "main", "loop"});

    TopStatus status{.pids = {100}, .command_line = "gunicorn: master"};
    status.view = view;
    status.thread_label = "all threads";
    status.process_label = "process 102 (gunicorn: worker), 3 of 4";
    std::string line = format_top_header(status, 0).at(2).text;
    CHECK(line.rfind("by function, process 102 (gunicorn: worker), 3 of 4, all threads, sorted by %Own", 0) ==
          0);

    status.view.by_process = true;
    status.view.process_sort = TopSort::total;
    CHECK(format_top_header(status, 0).at(2).text.rfind("by process, sorted by %Avg", 0) == 0);

    status.pids = {101, 102, 103};
    CHECK(format_top_header(status, 0).at(0).text.rfind("sampler top   PIDs 101,102,103   ", 0) == 0);
}

// The per-process lines at the end of `record` with several processes: order, CPU shares, and
// at most 20 lines with the rest summed.
#include "process_summary.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

TEST_CASE("record summary: one line per process, the busiest first, CPU as a share of one CPU",
          "[record][summary]") {
    std::map<int, ProcessRecord> processes{
        {100, {"gunicorn: master", 2, 2}},
        {101, {"gunicorn: worker", 300, 290}},
        {102, {"gunicorn: worker", 500, 10}}, // mostly asleep (--idle): less CPU, more samples
        {103, {"gunicorn: worker", 0, 0}},
    };
    auto lines = format_process_summary(processes, 400);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == "process 101 (gunicorn: worker): 300 samples, 72.5% CPU");
    CHECK(lines[1] == "process 102 (gunicorn: worker): 500 samples, 2.5% CPU");
    CHECK(lines[2] == "process 100 (gunicorn: master): 2 samples, 0.5% CPU");
    CHECK(lines[3] == "process 103 (gunicorn: worker): 0 samples, 0.0% CPU");
}

TEST_CASE("record summary: at most 20 lines, the rest summed on the last", "[record][summary]") {
    std::map<int, ProcessRecord> processes;
    for (int i = 1; i <= 20; ++i)
        processes[1000 + i] = {"worker", std::uint64_t(i), std::uint64_t(i)};
    // Exactly 20: all shown.
    auto lines = format_process_summary(processes, 100);
    REQUIRE(lines.size() == 20);
    CHECK(lines.front() == "process 1020 (worker): 20 samples, 20.0% CPU");
    CHECK(lines.back() == "process 1001 (worker): 1 samples, 1.0% CPU");

    // 25: the 19 busiest, then the 6 others in one line.
    for (int i = 21; i <= 25; ++i)
        processes[1000 + i] = {"worker", std::uint64_t(i), std::uint64_t(i)};
    lines = format_process_summary(processes, 100);
    REQUIRE(lines.size() == 20);
    CHECK(lines[0] == "process 1025 (worker): 25 samples, 25.0% CPU");
    CHECK(lines[18] == "process 1007 (worker): 7 samples, 7.0% CPU");
    CHECK(lines[19] == "6 more processes: 21 samples, 21.0% CPU"); // 1 + 2 + ... + 6

    lines = format_process_summary(processes, 100, 3);
    REQUIRE(lines.size() == 3);
    CHECK(lines[2] == "23 more processes: " + std::to_string(25 * 26 / 2 - 25 - 24) + " samples, " +
                          std::to_string(25 * 26 / 2 - 25 - 24) + ".0% CPU");
}

TEST_CASE("record summary: commands are printable and cut", "[record][summary]") {
    std::map<int, ProcessRecord> processes{{7, {std::string(100, 'x') + "\x1b[2J", 1, 1}}};
    auto lines = format_process_summary(processes, 0);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == "process 7 (" + std::string(57, 'x') + "...): 1 samples, 0.0% CPU");
    processes = {{8, {"evil\x1b[2J", 1, 1}}};
    CHECK(format_process_summary(processes, 10)[0] == "process 8 (evil?[2J): 1 samples, 10.0% CPU");
}

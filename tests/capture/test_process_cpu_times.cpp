// The whole-process CPU time the per-CPU clocks' kept share is measured against: /proc/PID/stat
// parsed whatever the command name holds, and this process's own time counted from when added.

#include "process_cpu_times.hpp"
#include "sampler/clock.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <ctime>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace sampler {
namespace {

std::string stat_line(const std::string& comm, unsigned utime, unsigned stime, unsigned start) {
    std::string line = "4242 (" + comm + ") R 1 4242 4242 0 -1 4194304 100 0 0 0 ";
    line += std::to_string(utime) + " " + std::to_string(stime) + " 0 0 20 0 3 0 " + std::to_string(start);
    return line + " 12345678 900 18446744073709551615\n";
}

void spin_for(std::chrono::milliseconds cpu) {
    timespec start{}, now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    volatile std::uint64_t sink = 0;
    do {
        for (int i = 0; i < 10000; ++i)
            sink = sink + i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1'000'000 < cpu.count());
}

} // namespace

TEST_CASE("process cpu times: utime + stime and the start time, whatever the command name holds") {
    auto reading = parse_process_cpu(stat_line("python3", 150, 50, 777), 100);
    REQUIRE(reading);
    CHECK(reading->cpu_ns == 2'000'000'000); // 200 ticks at 100 Hz
    CHECK(reading->start_time == 777);
    // Spaces and parentheses in the name: fields counted from the last ')'.
    reading = parse_process_cpu(stat_line("a) (b c) R 9", 3, 1, 5), 100);
    REQUIRE(reading);
    CHECK(reading->cpu_ns == 40'000'000);
    CHECK(reading->start_time == 5);
    CHECK_FALSE(parse_process_cpu("4242 (cut) R 1 2 3", 100));
    CHECK_FALSE(parse_process_cpu("no parenthesis at all", 100));
    CHECK_FALSE(parse_process_cpu(stat_line("x", 1, 1, 1), 0));
    // Garbage where utime should be.
    CHECK_FALSE(parse_process_cpu("1 (x) R 1 1 1 0 -1 0 0 0 0 0 abc 1 0 0 20 0 1 0 5 0 0 0", 100));
}

TEST_CASE("process cpu times: this process's time from when it was added, and none of an absent pid") {
    ProcessCpuTimes times;
    times.add(::getpid());
    times.add(::getpid()); // once
    spin_for(std::chrono::milliseconds(200));
    times.refresh();
    const double counted_ms = double(times.total_ns()) / 1e6;
    INFO("counted " << counted_ms << " ms");
    CHECK(counted_ms >= 150); // clock-tick resolution, 10 ms here
    CHECK(counted_ms <= 400);
    ProcessCpuTimes none;
    none.add(999'999'999);
    none.refresh();
    CHECK(none.total_ns() == 0);
}

TEST_CASE("process cpu times: samples after an ended process's last reading are not covered") {
    struct SleepingChild {
        pid_t pid = ::fork();
        SleepingChild() {
            if (pid == 0) {
                ::pause();
                ::_exit(0);
            }
            REQUIRE(pid > 0);
        }
        void end() {
            if (pid > 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
                pid = -1;
            }
        }
        ~SleepingChild() { end(); }
    } child;
    const int pid = child.pid;
    ProcessCpuTimes times;
    REQUIRE(times.add(pid));
    times.note_sample(pid, monotonic_ns()); // after the reading add() made
    const std::uint64_t before_reading = monotonic_ns();
    times.refresh(); // alive: covers it
    CHECK(times.uncovered_samples() == 0);
    times.note_sample(pid, before_reading); // drained late, covered by the reading just made
    times.note_sample(pid, monotonic_ns()); // not yet covered
    child.end();
    times.refresh(); // gone, reaped: no reading covers the last sample
    CHECK(times.take_gone() == std::vector<int>{pid});
    CHECK(times.uncovered_samples() == 1);
    // Drained after it was found gone: covered when taken before its last reading.
    times.note_sample(pid, before_reading);
    times.note_sample(pid, monotonic_ns());
    CHECK(times.uncovered_samples() == 2);
    // Samples of a pid never counted are no concern of it.
    times.note_sample(999'999'999, monotonic_ns());
    CHECK(times.uncovered_samples() == 2);
}

} // namespace sampler

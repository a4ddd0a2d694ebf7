// A process whose main thread has called pthread_exit: the main thread is a zombie while the
// worker runs on, so the process is alive and must be sampled through its live threads (the
// main thread's /proc files no longer show the address space). Both engines, and dump.
#include "process_helpers.hpp"

#include <catch2/catch.hpp>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

TEST_CASE("a process whose main thread has exited is sampled through its other threads", "[perf]") {
    ChildProcess target({fixture_path("leader_exit")});
    wait_until_started(target);
    for (int waited = 0; waited < 500 && process_state(target.pid()) != 'Z'; ++waited)
        std::this_thread::sleep_for(10ms);
    REQUIRE(process_state(target.pid()) == 'Z');
    const std::string pid = std::to_string(target.pid());

    CommandResult dump = run_sampler({"dump", "--pid", pid});
    INFO("dump:\n" << dump.out << dump.err);
    REQUIRE(dump.exit_code == 0);
    CHECK(dump.out.find("worker_spin") != std::string::npos);
    CHECK(dump.out.find("Process " + pid + ": " + fixture_path("leader_exit")) != std::string::npos);
    CHECK(dump.out.find("could not stop") == std::string::npos); // the exited main thread is left out

    for (const std::string engine : {"perf", "ptrace"}) {
        const std::string out = temp_path("leader-exit-" + engine + ".txt");
        CommandResult result = run_sampler(
            {"record", "--pid", pid, "--capture", engine, "-r", "200", "-d", "2", "-f", "folded", "-o", out});
        INFO(engine << " stderr: " << result.err);
        REQUIRE(result.exit_code == 0);
        auto folded = parse_folded(read_file(out));
        const long total = total_samples(folded);
        CHECK(total > 20);
        CHECK(samples_matching(folded, "worker;worker_spin") > total * 9 / 10);
        CHECK(result.err.find("duration reached") != std::string::npos); // the target lived on
    }
}

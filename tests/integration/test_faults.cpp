// The target comes first: whatever happens to the profiler or the target, every thread runs on.
#include "process_helpers.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

void require_running_untraced(int pid) {
    char state = process_state(pid);
    INFO("state " << state);
    CHECK((state == 'R' || state == 'S'));
    CHECK(tracer_of(pid) == 0);
    long before = cpu_ticks(pid);
    std::this_thread::sleep_for(500ms);
    CHECK(cpu_ticks(pid) > before); // still making progress
}

} // namespace

TEST_CASE("the target exiting while recording still writes the output", "[faults]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::string out = temp_path("target-killed.txt");
    ChildProcess sampler({sampler_binary(), "record", "--pid", std::to_string(target.pid()), "-f", "folded",
                          "-r", "200", "-o", out});
    // Once it samples (after loading symbols, which a loaded machine slows), for 0.3 s of the
    // target's CPU: some samples, whatever else the machine runs.
    REQUIRE(wait_for_errors(sampler, "recording process", 60s));
    REQUIRE(wait_for_cpu_ticks(target.pid(), 30, 60s));
    target.signal(SIGKILL);
    REQUIRE(target.wait(5s) == 128 + SIGKILL);
    INFO(sampler.errors());
    REQUIRE(sampler.wait(20s) == 0);
    CHECK(sampler.errors().find("target exited") != std::string::npos);
    CHECK(samples_matching(parse_folded(read_file(out)), "parent_heavy()") > 0);
}

TEST_CASE("the profiler killed mid-sample leaves the target running", "[faults]") {
    ChildProcess target({fixture_path("workload"), "blocked"});
    wait_until_started(target);
    // At 2000 Hz with --idle the profiler spends most of its time with some thread stopped,
    // so SIGKILL lands mid-sample on most rounds.
    for (int round = 0; round < 5; ++round) {
        ChildProcess sampler({sampler_binary(), "record", "--pid", std::to_string(target.pid()), "-f",
                              "folded", "-r", "2000", "--idle", "-o", temp_path("killed.txt")});
        std::this_thread::sleep_for(std::chrono::milliseconds(700 + 37 * round));
        sampler.signal(SIGKILL);
        REQUIRE(sampler.wait(5s) == 128 + SIGKILL);
        require_running_untraced(target.pid());
    }
}

TEST_CASE("Ctrl-C and SIGTERM stop recording, write the output and leave the target running", "[faults]") {
    int stop_signal = GENERATE(SIGINT, SIGTERM);
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::string out = temp_path("interrupted-" + std::to_string(stop_signal) + ".txt");
    ChildProcess sampler({sampler_binary(), "record", "--pid", std::to_string(target.pid()), "-f", "folded",
                          "-r", "500", "-o", out});
    // 1 s of the target's CPU once sampling began: 500 samples, 3/4 of them in parent_heavy.
    REQUIRE(wait_for_errors(sampler, "recording process", 60s));
    REQUIRE(wait_for_cpu_ticks(target.pid(), 100, 60s));
    sampler.signal(stop_signal);
    INFO(sampler.errors());
    REQUIRE(sampler.wait(20s) == 0);
    CHECK(sampler.errors().find("interrupted") != std::string::npos);
    CHECK(samples_matching(parse_folded(read_file(out)), "parent_heavy()") > 100);
    require_running_untraced(target.pid());
}

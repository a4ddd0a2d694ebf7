// The perf_event engine against real processes: CPU time as the kernel counts it, no stops, a
// debugger already attached is no obstacle, --idle without stopping, and the fallback to ptrace
// when perf_event_open is refused (as under a container's seccomp profile).
#include "process_helpers.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <regex>
#include <sys/ptrace.h>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

constexpr long clock_ticks_per_second = 100; // USER_HZ

std::vector<std::string> record_args(const ChildProcess& target, const std::string& out,
                                     std::vector<std::string> extra) {
    std::vector<std::string> args{"record", "--pid", std::to_string(target.pid()), "-f", "folded", "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

} // namespace

TEST_CASE("perf engine: a process sharing the CPUs gets samples for the CPU time it had, not for its wait",
          "[perf]") {
    // Four CPU-bound processes on this machine's CPUs: each runs part of the time and waits,
    // runnable, the rest. /proc says `R` throughout; only on-CPU time may be sampled.
    ChildProcess target({fixture_path("workload"), "split"});
    std::vector<std::unique_ptr<ChildProcess>> others;
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < 2 * cpus - 1; ++i)
        others.push_back(
            std::make_unique<ChildProcess>(std::vector<std::string>{fixture_path("workload"), "split"}));
    wait_until_started(target);
    std::this_thread::sleep_for(200ms);

    const std::string out = temp_path("perf-oncpu.txt");
    const long cpu_before = cpu_ticks(target.pid());
    CommandResult result =
        run_sampler(record_args(target, out, {"--capture", "perf", "-r", "200", "-d", "4"}));
    const long cpu_after = cpu_ticks(target.pid());
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const long samples = total_samples(parse_folded(read_file(out)));
    const double cpu_seconds = double(cpu_after - cpu_before) / clock_ticks_per_second;
    INFO("samples " << samples << ", CPU " << cpu_seconds << " s by /proc over the whole run");
    // The CPU time the kernel counted for the sampled threads over exactly the sampling span
    // (their task clocks), as sampler reports it: the samples match it.
    std::smatch called_for;
    REQUIRE(std::regex_search(result.err, called_for,
                              std::regex(R"(of the (\d+) its threads' CPU time called for)")));
    const double expected = std::stod(called_for[1]);
    // A clock of the thread's own takes one sample per period of its CPU time: exact. A clock of
    // the CPU (the default) ticks on whoever runs: the target's share of its ticks is a count of
    // chance events, off by about its square root (5% of 400 samples), so 3 of those here.
    const double spread = std::max(0.05 * expected, 3 * std::sqrt(expected));
    CHECK(samples >= std::min(expected * 0.9, expected - spread));
    CHECK(samples <= expected + spread + 5);
    // And that CPU time is the process's as /proc counts it, which also covers sampler's start-up
    // and exit around the span: never less, never much more.
    CHECK(expected <= cpu_seconds * 200 * 1.05 + 5);
    CHECK(expected >= cpu_seconds * 200 * 0.5);
    // It had about half a CPU: far fewer samples than rounds of a 4 s run at 200 Hz.
    CHECK(samples < 0.8 * 4 * 200);
    CHECK(result.err.find("target never stopped") != std::string::npos);
}

TEST_CASE("perf engine: a target that ends, reaped at once by its parent, keeps a true kept share",
          "[perf]") {
    // Clocks per CPU measure the kept share against /proc/PID/stat, read once a second: a
    // target reaped before sampler read it again took up to a second of samples no counted time
    // covered (157% was reported). Those are now left out, with the time they would match.
    ChildProcess target({fixture_path("workload"), "bench", "3600"}); // about 2.5 s of work
    std::atomic<int> status{-2};
    std::thread reaper([&] { status = target.wait(60s); });
    struct Joined {
        std::thread& thread;
        ~Joined() {
            if (thread.joinable())
                thread.join();
        }
    } joined{reaper};
    const std::string out = temp_path("perf-reaped.txt");
    CommandResult result = run_sampler(record_args(target, out, {"--capture", "perf", "-r", "1000"}));
    reaper.join();
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(status == 0);
    std::smatch kept;
    REQUIRE(std::regex_search(result.err, kept,
                              std::regex(R"(thread samples, ([\d.]+)% of the (\d+) its threads' CPU time)")));
    const double expected = std::stod(kept[2]);
    REQUIRE(expected >= 200);
    // Chance ticks of the CPUs' clocks (see the test above): 3 square roots either way.
    const double spread = 100 * std::max(0.05, 3 / std::sqrt(expected));
    CHECK(std::stod(kept[1]) >= 100 - spread);
    CHECK(std::stod(kept[1]) <= 100 + spread);
}

TEST_CASE("perf engine: the target is never stopped or traced while recording", "[perf]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::atomic<bool> done{false};
    std::atomic<int> traced_seen{0}, polls{0};
    std::thread watcher([&] {
        while (!done) {
            char state = process_state(target.pid());
            if (tracer_of(target.pid()) != 0 || state == 't' || state == 'T')
                ++traced_seen;
            ++polls;
            std::this_thread::sleep_for(200us);
        }
    });
    const std::string out = temp_path("perf-nostop.txt");
    CommandResult result =
        run_sampler(record_args(target, out, {"--capture", "perf", "-r", "1000", "-d", "2"}));
    done = true;
    watcher.join();
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(polls > 100);
    CHECK(traced_seen == 0);
    auto folded = parse_folded(read_file(out));
    CHECK(samples_matching(folded, "burn(") > total_samples(folded) * 9 / 10);
    CHECK(result.err.find("target never stopped;") != std::string::npos);
}

TEST_CASE("perf engine: a target already under a debugger can still be recorded", "[perf]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    // Seized, not stopped: it runs on, but ptrace (and so the ptrace engine) cannot attach.
    REQUIRE(::ptrace(PTRACE_SEIZE, target.pid(), nullptr, nullptr) == 0);
    const std::string out = temp_path("perf-traced.txt");
    CommandResult result =
        run_sampler(record_args(target, out, {"--capture", "perf", "-r", "200", "-d", "1"}));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    auto folded = parse_folded(read_file(out));
    CHECK(samples_matching(folded, "parent_heavy()") > 50);
    CommandResult refused = run_sampler(record_args(target, out, {"--capture", "ptrace", "-d", "1"}));
    CHECK(refused.exit_code == 5);
}

TEST_CASE("perf engine: --idle gives a sleeping thread its stack at every tick without stopping it again",
          "[perf]") {
    ChildProcess target({fixture_path("workload"), "blocked"});
    wait_until_started(target);
    std::this_thread::sleep_for(200ms);
    const std::string out = temp_path("perf-idle.txt");
    CommandResult result =
        run_sampler(record_args(target, out, {"--capture", "perf", "--idle", "-r", "200", "-d", "2"}));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    auto folded = parse_folded(read_file(out));
    // 2 s at 200 Hz: 400 ticks, the blocked thread in every one.
    const long blocked = samples_matching(folded, "block_forever()");
    CHECK(blocked >= 400 * 9 / 10);
    CHECK(blocked <= 400 * 11 / 10);
    // The busy main thread is sampled on its CPU time alongside.
    CHECK(samples_matching(folded, "run_split_forever()") > 200);
    // One stop at the start for the thread that was asleep (the stack it sleeps in), no more.
    CHECK(result.err.find("target stopped 1 times, for stacks the kernel does not copy") !=
          std::string::npos);
}

TEST_CASE("a session that called for too few samples shows the rate requested and says why, on either engine",
          "[perf]") {
    // perf_event: a target asleep throughout called for none (it read "0.0 Hz of 100 Hz
    // requested"). ptrace: 0.1 s at 100 Hz called for 10 rounds, fewer than the 20 a share is
    // told for (a target that exited at once read the same).
    struct Case {
        const char* engine;
        const char* seconds;
        const char* why;
    };
    for (const Case& session :
         {Case{"perf", "1", " ms on a CPU, too little to tell the share of the rate kept"},
          Case{"ptrace", "0.1", "stopped for its copy; the session was too short to tell the rate kept"}})
        DYNAMIC_SECTION(session.engine) {
            ChildProcess target({"/bin/sleep", "30"});
            std::this_thread::sleep_for(100ms);
            const std::string out = temp_path("hardly-ran.txt");
            CommandResult result =
                run_sampler(record_args(target, out, {"--capture", session.engine, "-d", session.seconds}));
            INFO(result.err);
            REQUIRE(result.exit_code == 0);
            CHECK(result.err.find("(100.0 Hz of 100 Hz requested)") != std::string::npos);
            CHECK(result.err.find(session.why) != std::string::npos);
        }
}

TEST_CASE("perf engine: --idle gives a busy thread one stack per tick, on its CPU or off it", "[perf]") {
    // A thread is either on a CPU or not at each tick: its samples taken on its CPU clock plus
    // the stacks it gets while off add up to the ticks. Off-CPU is judged at the tick's time by
    // the switch records, not when sampler gets to it: sampler is woken by those records, often
    // on the CPU the thread just left, and then saw a busy thread as off its CPU at nearly every
    // tick (on a loaded machine, about 1.5 stacks per tick).
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = temp_path("perf-idle-busy.txt");
    CommandResult result =
        run_sampler(record_args(target, out, {"--capture", "perf", "--idle", "-r", "200", "-d", "3"}));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    std::smatch ticks;
    REQUIRE(std::regex_search(result.err, ticks, std::regex(R"(: (\d+) samples \()")));
    const long rounds = std::stol(ticks[1]);
    const long stacks = total_samples(parse_folded(read_file(out)));
    INFO("ticks " << rounds << ", stacks " << stacks);
    REQUIRE(rounds > 400);
    CHECK(stacks >= rounds * 8 / 10);
    CHECK(stacks <= rounds * 12 / 10);
}

TEST_CASE("perf_event refused: record falls back to ptrace and says why, --capture perf fails", "[perf]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = temp_path("perf-refused.txt");
    std::vector<std::string> argv{fixture_path("no_perf_events"), sampler_binary()};
    for (const std::string& arg : record_args(target, out, {"-r", "200", "-d", "1"}))
        argv.push_back(arg);
    ChildProcess fallback(argv);
    REQUIRE(fallback.wait(60s) == 0);
    INFO(fallback.errors());
    CHECK(fallback.errors().find("perf_event_open was refused (Permission denied)") != std::string::npos);
    CHECK(fallback.errors().find("sampling with ptrace stops instead") != std::string::npos);
    CHECK(fallback.errors().find("ptrace engine") != std::string::npos);
    auto folded = parse_folded(read_file(out));
    CHECK(samples_matching(folded, "burn(") > 100);

    argv.push_back("--capture");
    argv.push_back("perf");
    ChildProcess forced(argv);
    CHECK(forced.wait(60s) == 6);
    CHECK(forced.errors().find("--capture perf: perf_event_open was refused") != std::string::npos);
}

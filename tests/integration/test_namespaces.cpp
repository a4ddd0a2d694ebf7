// Native targets in namespaces of their own, as in a container, profiled from here: by the PID
// we see in a PID namespace. Both capture engines, and dump.
#include "namespaced_process.hpp"

#include <catch2/catch.hpp>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

std::map<std::string, long> record(int pid, const std::string& engine, const std::string& name) {
    const std::string out = temp_path(name + ".txt");
    CommandResult result = run_sampler({"record", "--pid", std::to_string(pid), "--capture", engine, "-r",
                                        "200", "-d", "2", "-f", "folded", "-o", out});
    INFO(engine << " stderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    return parse_folded(read_file(out));
}

// `workload split` as seen by dump and by both engines: its own functions, by name.
void check_profiles(int pid, const std::string& name) {
    // A few tries: on a loaded machine a stop can take longer than dump waits for it.
    CommandResult dump;
    for (int attempt = 0; attempt < 3 && dump.out.find("    run_split_forever() (") == std::string::npos;
         ++attempt) {
        dump = run_sampler({"dump", "--pid", std::to_string(pid)});
        REQUIRE(dump.exit_code == 0);
    }
    INFO("dump:\n" << dump.out << dump.err);
    CHECK(dump.out.find("Thread " + std::to_string(pid) + " (workload)") != std::string::npos);
    CHECK(dump.out.find("    run_split_forever() (") != std::string::npos); // symbols found
    for (const std::string engine : {"perf", "ptrace"}) {
        auto folded = record(pid, engine, name + "-" + engine);
        const long total = total_samples(folded);
        INFO(engine << ": " << total << " samples");
        CHECK(total > 20);
        CHECK(samples_matching(folded, "main;run_split_forever();parent_heavy();burn(") > total / 2);
    }
}

// Says why (once per test) when namespaces cannot be made here.
bool namespaces_usable() {
    std::string why = namespaces_unavailable();
    if (!why.empty())
        WARN("skipped: " << why);
    return why.empty();
}

} // namespace

TEST_CASE("native: a process in a PID namespace of its own, by the PID we see", "[namespaces][perf]") {
    if (!namespaces_usable())
        return;
    NamespacedProcess target({"--pid", "--fork", "--mount-proc"}, {fixture_path("workload"), "split"},
                             fixture_path("workload"));
    INFO("unshare stderr: " << target.errors());
    REQUIRE(target.pid() != 0);
    REQUIRE(target.inner_pid() == 1);
    std::this_thread::sleep_for(300ms);
    check_profiles(target.pid(), "ns-native-pid");
}

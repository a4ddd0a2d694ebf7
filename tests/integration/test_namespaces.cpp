// Native targets in namespaces of their own, as in a container, profiled from here: by the PID
// we see in a PID namespace, and with their program on a file system mounted only in their
// mount namespace (read through /proc/PID/root, or /proc/PID/map_files once even that path no
// longer leads to it). Both capture engines, and dump.
#include "namespaced_process.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <thread>
#include <unistd.h>

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
        skip_test(why);
    return true;
}

// A directory that exists here but stays empty: the namespace mounts a tmpfs over it.
struct EmptyDirectory {
    explicit EmptyDirectory(const std::string& name) : path(temp_path(name)) {
        std::filesystem::create_directory(path);
    }
    ~EmptyDirectory() { std::filesystem::remove(path); }
    std::string path;
};

// `script` run by sh in a mount namespace of its own, with the directory as $0 and the workload
// as $1; it is to start DIRECTORY/workload.
std::unique_ptr<NamespacedProcess> in_private_mount(const EmptyDirectory& directory,
                                                    const std::string& script) {
    return std::make_unique<NamespacedProcess>(
        std::vector<std::string>{"--mount", "--propagation", "private"},
        std::vector<std::string>{"/bin/sh", "-c", script, directory.path, fixture_path("workload")},
        directory.path + "/workload");
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

TEST_CASE("native: a program on a file system mounted only in the target's mount namespace",
          "[namespaces][perf]") {
    if (!namespaces_usable())
        return;
    EmptyDirectory directory("private-mount");
    auto target = in_private_mount(
        directory, R"(mount -t tmpfs sampler-test "$0" && cp "$1" "$0/" && exec "$0/workload" split)");
    INFO("unshare stderr: " << target->errors());
    REQUIRE(target->pid() != 0);
    REQUIRE(::access((directory.path + "/workload").c_str(), F_OK) != 0); // not from here
    std::this_thread::sleep_for(300ms);
    check_profiles(target->pid(), "ns-native-mount");
}

TEST_CASE("native: a program whose path no longer leads to it, even in its own namespace",
          "[namespaces][perf]") {
    if (!namespaces_usable())
        return;
    // Started from a tmpfs, which is then covered by another, empty one: only the mapping
    // (/proc/PID/map_files) still leads to the file.
    EmptyDirectory directory("covered-mount");
    auto target = in_private_mount(directory, R"(mount -t tmpfs sampler-test "$0" && cp "$1" "$0/" || exit 1
"$0/workload" split &
sleep 0.5
mount -t tmpfs sampler-cover "$0" && touch "$0/covered"
wait)");
    INFO("unshare stderr: " << target->errors());
    REQUIRE(target->pid() != 0);
    const std::string root = "/proc/" + std::to_string(target->pid()) + "/root" + directory.path;
    for (int waited = 0; waited < 500 && ::access((root + "/covered").c_str(), F_OK) != 0; ++waited)
        std::this_thread::sleep_for(10ms);
    REQUIRE(::access((root + "/covered").c_str(), F_OK) == 0);
    REQUIRE(::access((root + "/workload").c_str(), F_OK) != 0);
    check_profiles(target->pid(), "ns-native-covered");
}

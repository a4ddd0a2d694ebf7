// Outputs are written whole or not at all, failures to write say so, and an unwritable output is
// found before sampling rather than after it.
#include "process_helpers.hpp"
#include "skips.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace sampler::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The names in a directory: a temporary file left behind shows up here.
std::vector<std::string> names_in(const std::string& directory) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(directory))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// A tmpfs of 64 KiB, unmounted when the object goes away. Needs root.
class TinyFilesystem {
  public:
    explicit TinyFilesystem(const std::string& path) : path_(path) {
        fs::create_directories(path);
        mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=64k") == 0;
    }
    ~TinyFilesystem() {
        if (mounted_)
            ::umount2(path_.c_str(), MNT_DETACH);
    }
    TinyFilesystem(const TinyFilesystem&) = delete;
    TinyFilesystem& operator=(const TinyFilesystem&) = delete;
    bool mounted() const { return mounted_; }

  private:
    std::string path_;
    bool mounted_ = false;
};

// Folded stacks whose flame graph is far larger than 64 KiB.
std::string large_folded() {
    std::string text;
    for (int i = 0; i < 3000; ++i)
        text +=
            "main;handler_" + std::to_string(i) + ";some_long_function_name_" + std::to_string(i) + " 1\n";
    return text;
}

ChildProcess start_sampler(const std::vector<std::string>& arguments, ChildStdout stdout_to) {
    std::vector<std::string> argv{sampler_binary()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return ChildProcess(argv, -1, stdout_to);
}

} // namespace

TEST_CASE("an output in a missing directory fails before sampling starts", "[outputs]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());
    // -d 30: had it sampled first, the timeout below would have killed it.
    CommandResult record =
        run_sampler({"record", "--pid", pid, "-d", "30", "-o", "/nonexistent-dir/profile.svg"}, 10s);
    INFO(record.err);
    CHECK(record.exit_code == 7);
    CHECK(record.err.find("cannot write /nonexistent-dir/profile.svg: no directory /nonexistent-dir") !=
          std::string::npos);
    CHECK(record.err.find("recording process") == std::string::npos);

    const std::string input = temp_path("missing-dir.folded");
    write_text(input, "main;work 3\n");
    CommandResult flamegraph = run_sampler({"flamegraph", input, "-o", "/nonexistent-dir/out.svg"});
    CHECK(flamegraph.exit_code == 7);
    CHECK(flamegraph.err.find("no directory /nonexistent-dir") != std::string::npos);
    check_target_runs_on(target.pid());
}

TEST_CASE("an output file is replaced whole, keeping its mode, with no file left beside it", "[outputs]") {
    const std::string directory = temp_path("replace");
    fs::create_directories(directory);
    const std::string input = directory + "/in.folded";
    write_text(input, "main;work 3\n");
    const std::string fresh = directory + "/fresh.svg";
    const std::string existing = directory + "/existing.svg";
    write_text(existing, "the previous profile, longer than nothing");
    ::chmod(existing.c_str(), 0600);

    const mode_t mask = ::umask(022);
    CommandResult first = run_sampler({"flamegraph", input, "-o", fresh});
    CommandResult second = run_sampler({"flamegraph", input, "-o", existing});
    ::umask(mask);
    INFO(first.err << second.err);
    REQUIRE(first.exit_code == 0);
    REQUIRE(second.exit_code == 0);
    CHECK(read_file(existing).find("<svg") != std::string::npos);
    struct stat fresh_stat {
    }, existing_stat{};
    REQUIRE(::stat(fresh.c_str(), &fresh_stat) == 0);
    REQUIRE(::stat(existing.c_str(), &existing_stat) == 0);
    CHECK((fresh_stat.st_mode & 0777) == 0644); // as any new file under umask 022
    CHECK((existing_stat.st_mode & 0777) == 0600);
    CHECK(names_in(directory) == std::vector<std::string>{"existing.svg", "fresh.svg", "in.folded"});

    // A device is written in place, never replaced by a file.
    CHECK(run_sampler({"flamegraph", input, "-o", "/dev/null"}).exit_code == 0);
    struct stat null_stat {};
    REQUIRE(::stat("/dev/null", &null_stat) == 0);
    CHECK(S_ISCHR(null_stat.st_mode));
}

TEST_CASE("a full disk fails the write and leaves the previous file intact", "[outputs]") {
    if (::geteuid() != 0) {
        skip_test("mounting a 64 KiB tmpfs to fill needs root");
    }
    const std::string input = temp_path("large.folded");
    write_text(input, large_folded());
    TinyFilesystem disk(temp_path("tiny-fs"));
    if (!disk.mounted()) {
        skip_test("mount -t tmpfs was refused (no CAP_SYS_ADMIN here?)");
    }
    const std::string directory = temp_path("tiny-fs");
    const std::string previous = directory + "/previous.svg";
    write_text(previous, "the previous profile");

    CommandResult over = run_sampler({"flamegraph", input, "-o", previous});
    INFO(over.err);
    CHECK(over.exit_code == 7);
    CHECK(over.err.find("cannot write " + previous + ": No space left on device") != std::string::npos);
    CHECK(read_file(previous) == "the previous profile");

    CommandResult fresh = run_sampler({"flamegraph", input, "-o", directory + "/new.svg"});
    CHECK(fresh.exit_code == 7);
    CHECK(names_in(directory) == std::vector<std::string>{"previous.svg"});
}

TEST_CASE("a recording whose output does not fit on the disk still says what it sampled", "[outputs]") {
    if (::geteuid() != 0) {
        skip_test("mounting a 64 KiB tmpfs to fill needs root");
    }
    TinyFilesystem disk(temp_path("full-fs"));
    if (!disk.mounted()) {
        skip_test("mount -t tmpfs was refused (no CAP_SYS_ADMIN here?)");
    }
    const std::string directory = temp_path("full-fs");
    {
        // Fill it: the write stops when the disk is full.
        std::ofstream filler(directory + "/filler", std::ios::binary);
        const std::string block(4096, 'x');
        for (int i = 0; i < 64 && filler.write(block.data(), block.size()); ++i)
            filler.flush();
    }
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = directory + "/profile.folded";
    CommandResult result =
        run_sampler({"record", "--pid", std::to_string(target.pid()), "-d", "1", "-f", "folded", "-o", out});
    INFO(result.err);
    CHECK(result.exit_code == 7);
    CHECK(result.err.find("cannot write " + out + ": No space left on device") != std::string::npos);
    // The summary came first: how many stacks were sampled is not lost with the file.
    const auto summary = result.err.find(" stacks, ");
    CHECK(summary != std::string::npos);
    CHECK(summary < result.err.find("cannot write"));
    check_target_runs_on(target.pid());
}

TEST_CASE("a full stdout is an error for every command that prints", "[outputs]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());
    const std::string input = temp_path("stdout.folded");
    write_text(input, "main;work 3\n");
    const std::vector<std::vector<std::string>> commands{
        {"record", "--pid", pid, "-d", "0.5", "-f", "folded", "-o", "-"},
        {"dump", "--pid", pid},
        {"dump", "--pid", pid, "--json"},
        {"top", "--pid", pid, "--once", "--delay", "0.3"},
        {"flamegraph", input, "-o", "-"},
        {"diff", input, input},
    };
    for (const auto& command : commands) {
        ChildProcess sampler = start_sampler(command, ChildStdout::full_disk);
        INFO(command[0] << " " << command.back() << ": " << sampler.errors());
        CHECK(sampler.wait(30s) == 7);
        CHECK(sampler.errors().find("sampler: error: cannot write to stdout: No space left on device") !=
              std::string::npos);
    }
    check_target_runs_on(target.pid());
}

TEST_CASE("a closed pipe on stdout ends quietly and lets the target go", "[outputs]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());
    const std::vector<std::vector<std::string>> commands{
        {"record", "--pid", pid, "-d", "0.5", "-f", "folded", "-o", "-"},
        {"dump", "--pid", pid},
        {"top", "--pid", pid, "--delay", "0.3"}, // would sample for nobody until Ctrl-C
    };
    for (const auto& command : commands) {
        ChildProcess sampler = start_sampler(command, ChildStdout::closed_pipe);
        INFO(command[0] << ": " << sampler.errors());
        CHECK(sampler.wait(30s) == 141); // what a shell shows for tools SIGPIPE ends
        CHECK(sampler.errors().find("sampler: error") == std::string::npos);
        check_target_runs_on(target.pid());
    }
}

TEST_CASE("a command sampler starts gets the default SIGPIPE action back", "[outputs]") {
    // sampler ignores SIGPIPE, and exec keeps a signal ignored unless the child resets it.
    CommandResult result = run_sampler({"record", "-d", "0.5", "-f", "folded", "-o", temp_path("sigpipe.txt"),
                                        "--", "/bin/sh", "-c", "grep SigIgn /proc/self/status; sleep 2"});
    INFO(result.out << result.err);
    const auto at = result.out.find("SigIgn:");
    REQUIRE(at != std::string::npos);
    const unsigned long long ignored = std::stoull(result.out.substr(at + 7), nullptr, 16);
    CHECK((ignored & (1ull << (SIGPIPE - 1))) == 0);
}

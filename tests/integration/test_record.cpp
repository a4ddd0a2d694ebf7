// `sampler record` against the fixture programs: shares, inline frames, libraries, recursion,
// threads created while recording, stripped binaries, and the SVG output.
#include "process_helpers.hpp"
#include "skips.hpp"
#include "tmux_server.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <regex>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

// M in the first summary line, "...: N samples (...), M stacks, ...": the thread samples that
// went into the output, so the written file must add up to it. -1 when the line is missing.
long summary_stacks(const std::string& err) {
    std::smatch match;
    if (!std::regex_search(err, match, std::regex(R"(: \d+ samples \([^)]*\), (\d+) stacks,)")))
        return -1;
    return std::stol(match[1]);
}

std::map<std::string, long> record_once(const ChildProcess& target, const std::vector<std::string>& extra,
                                        const std::string& name) {
    std::string out = temp_path(name + ".txt");
    std::vector<std::string> args{"record", "--pid", std::to_string(target.pid()), "-f", "folded", "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = run_sampler(args);
    INFO("sampler stderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    auto folded = parse_folded(read_file(out));
    CHECK(total_samples(folded) == summary_stacks(result.err));
    return folded;
}

// Recordings of the target, merged, until they hold more than `min_samples` (8 at the most).
// On a loaded machine the fixture gets little CPU time, which is all the perf_event engine
// samples: a count from one recording measures the machine, not sampler.
std::map<std::string, long> record_folded(const ChildProcess& target, const std::vector<std::string>& extra,
                                          const std::string& name, long min_samples) {
    std::map<std::string, long> merged;
    for (int attempt = 0; attempt < 8 && total_samples(merged) <= min_samples; ++attempt)
        for (const auto& [stack, count] : record_once(target, extra, name))
            merged[stack] += count;
    return merged;
}

// The frames of a flame graph SVG named `name`, their samples added up.
long svg_samples(const std::string& svg, const std::string& name) {
    const std::regex frame("data-name=\"" + std::regex_replace(name, std::regex(R"([()])"), R"(\$&)") +
                           "\" data-samples=\"(\\d+)\"");
    long total = 0;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), frame); it != std::sregex_iterator(); ++it)
        total += std::stol((*it)[1]);
    return total;
}

// Waits until `path` is mapped into the process: the loader has opened it.
bool wait_until_mapped(int pid, const std::string& path) {
    for (int i = 0; i < 500; ++i) {
        if (read_file("/proc/" + std::to_string(pid) + "/maps").find(path) != std::string::npos)
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

} // namespace

TEST_CASE("a 3:1 CPU split between two callers is recovered", "[record]") {
    std::string binary = GENERATE(std::string("workload"), std::string("workload_nopie"));
    SECTION(binary) {
        ChildProcess target({fixture_path(binary), "split"});
        wait_until_started(target);
        auto folded = record_folded(target, {"-r", "400", "-d", "5"}, "split-" + binary, 800);
        long total = total_samples(folded);
        long heavy = samples_matching(folded, "parent_heavy()");
        long light = samples_matching(folded, "parent_light()");
        INFO("total " << total << " heavy " << heavy << " light " << light);
        REQUIRE(total > 800);
        double heavy_share = 100.0 * double(heavy) / double(heavy + light);
        CHECK(heavy_share == Approx(75.0).margin(5.0));
        // Nearly every stack unwinds through libc to the program's entry.
        CHECK(samples_matching(folded, "main;run_split_forever()") >= total * 95 / 100);
        CHECK(samples_matching(folded, "_start") >= total * 95 / 100);
    }
}

TEST_CASE("work that alternates in step with the sampling period is still seen in its true shares",
          "[record]") {
    // The fixture is in locked_heavy for the first 3/4 of every 2.5 ms of its own CPU time: a
    // clock that fires every 2.5 ms of CPU time, as a fixed 400 Hz task-clock period does, sees
    // one of the two only (0% or 100%).
    ChildProcess target({fixture_path("workload"), "phase-locked"});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "400", "-d", "5"}, "phase-locked", 800);
    long heavy = samples_matching(folded, "locked_heavy()");
    long light = samples_matching(folded, "locked_light()");
    INFO("total " << total_samples(folded) << " heavy " << heavy << " light " << light);
    REQUIRE(heavy + light > 800);
    CHECK(100.0 * double(heavy) / double(heavy + light) == Approx(75.0).margin(6.0));
}

TEST_CASE("an always-inline helper is its own frame below its caller", "[record][inline]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "inline", 100);
    long total = total_samples(folded);
    REQUIRE(total > 100);
    CHECK(samples_matching(folded, "burn(unsigned long);mix_step(unsigned long)") > total / 2);
}

TEST_CASE("a function in a shared library is symbolized", "[record][shared]") {
    ChildProcess target({fixture_path("workload"), "shared"});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "shared", 100);
    long total = total_samples(folded);
    REQUIRE(total > 100);
    CHECK(samples_matching(folded, "main;shared_library_work") > total * 80 / 100);
}

TEST_CASE("200-deep recursion is unwound completely", "[record][recursion]") {
    ChildProcess target({fixture_path("workload"), "recurse"});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "recurse", 100);
    std::string chain = "main";
    for (int i = 0; i < 201; ++i)
        chain += ";recurse(int)";
    chain += ";spin_at_bottom()";
    long total = total_samples(folded);
    REQUIRE(total > 100);
    CHECK(samples_matching(folded, chain) > total * 90 / 100);
    CHECK(samples_matching(folded, chain + ";recurse(int)") == 0);
}

TEST_CASE("threads created while recording are sampled, each under its own root", "[record][threads]") {
    // Each recording needs a new target (a second one would find the threads already there);
    // a busy machine may leave the threads so little CPU that one has too few samples to
    // compare, so up to three targets, each of whose recordings must see both threads.
    long late = 0;
    long total = 0;
    for (int attempt = 0; attempt < 3 && late <= 100; ++attempt) {
        ChildProcess target({fixture_path("workload"), "late"});
        wait_until_started(target); // the workers start one second after launch
        auto folded = record_once(target, {"-r", "400", "-d", "3", "--threads"}, "late");
        std::map<std::string, long> per_thread;
        long in_recording = 0;
        for (const auto& [stack, count] : folded)
            if (stack.find("late_thread_work()") != std::string::npos) {
                per_thread[stack.substr(0, stack.find(';'))] += count;
                in_recording += count;
            }
        late += in_recording;
        total += total_samples(folded);
        INFO("late threads seen: " << per_thread.size() << ", samples in late_thread_work " << in_recording
                                   << " of " << total_samples(folded));
        REQUIRE(per_thread.size() == 2);
        // The two workers, doing the same work, share the samples about evenly however little
        // CPU the machine leaves them.
        for (const auto& [root, count] : per_thread) {
            CHECK(root.rfind("thread ", 0) == 0);
            if (in_recording >= 40)
                CHECK(count >= in_recording / 4);
        }
    }
    INFO("samples in late_thread_work " << late << " of " << total);
    REQUIRE(late > 100);
    CHECK(late >= total * 95 / 100); // main only sleeps
}

TEST_CASE("stripped executables still give .dynsym names or module+offset", "[record][stripped]") {
    SECTION("exported symbols come from .dynsym") {
        ChildProcess target({fixture_path("workload_dynsym_stripped"), "split"});
        wait_until_started(target);
        auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "dynsym", 100);
        long total = total_samples(folded);
        REQUIRE(total > 100);
        CHECK(samples_matching(folded, "parent_heavy();burn(unsigned long)") > 0);
        CHECK(samples_matching(folded, "__libc_start_main") > total * 90 / 100);
    }
    SECTION("without symbols, frames are module+offset") {
        ChildProcess target({fixture_path("workload_stripped"), "split"});
        wait_until_started(target);
        auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "stripped", 100);
        long total = total_samples(folded);
        REQUIRE(total > 100);
        CHECK(samples_matching(folded, "workload_stripped+0x") > total * 90 / 100);
        CHECK(samples_matching(folded, "__libc_start_main") > total * 90 / 100);
    }
}

TEST_CASE("record writes a flame graph by default", "[record][svg]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::string out = temp_path("split.svg");
    long heavy = 0, light = 0, stacks = 0;
    // More recordings, their counts added up, while the machine leaves the fixture too little CPU
    // for the shares to mean much (see record_folded).
    for (int attempt = 0; attempt < 8 && heavy + light <= 300; ++attempt) {
        CommandResult result =
            run_sampler({"record", "--pid", std::to_string(target.pid()), "-r", "400", "-d", "3", "-o", out});
        INFO(result.err);
        REQUIRE(result.exit_code == 0);
        CHECK(result.err.find("wrote flame graph to " + out) != std::string::npos);
        const long recorded = summary_stacks(result.err);
        const std::string svg = read_file(out);
        CHECK(svg.rfind("<?xml", 0) == 0);
        // The graph holds every stack the summary counts, and says how many.
        CHECK(svg_samples(svg, "all") == recorded);
        CHECK(svg.find(", " + std::to_string(recorded) + " samples</text>") != std::string::npos);
        heavy += svg_samples(svg, "parent_heavy()");
        light += svg_samples(svg, "parent_light()");
        stacks += recorded;
        // Its own cost per sample, from the first samples and in steady state (3 s: it opens).
        std::smatch from_start, steady;
        CHECK(std::regex_search(
            result.err, from_start,
            std::regex(R"(own CPU while sampling \(start-up excluded\) [\d.]+ s: ([\d.]+) us)")));
        REQUIRE(std::regex_search(
            result.err, steady,
            std::regex(R"(own CPU in steady state \(from 1 s after the first samples[^)]*\) )"
                       R"(([\d.]+) s: ([\d.]+) us per thread sample)")));
        CHECK(std::stod(steady[1].str()) >= 0);
        CHECK(std::stod(steady[2].str()) < 100000);
    }
    // The workload's 3:1 split.
    INFO("heavy " << heavy << " light " << light << " stacks " << stacks);
    REQUIRE(heavy + light > 300);
    CHECK(heavy + light >= stacks * 95 / 100);
    CHECK(100.0 * double(heavy) / double(heavy + light) == Approx(75.0).margin(8.0));
}

TEST_CASE("record -- COMMAND starts the program and stops when it exits", "[record][command]") {
    std::string out = temp_path("command.txt");
    // The command starts at once and runs while sampler loads its symbols: in the ASan build that
    // took most of a 0.45 s run (36 samples). About 2 s of work leaves plenty sampled.
    CommandResult result = run_sampler(
        {"record", "-f", "folded", "-r", "400", "-o", out, "--", fixture_path("workload"), "bench", "1800"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("target exited") != std::string::npos);
    auto folded = parse_folded(read_file(out));
    const long total = total_samples(folded);
    const long heavy = samples_matching(folded, "parent_heavy()");
    const long light = samples_matching(folded, "parent_light()");
    INFO("total " << total << " heavy " << heavy << " light " << light);
    CHECK(total == summary_stacks(result.err));
    // From its start to its exit: nearly every sample is in the benchmark loop.
    REQUIRE(total > 50);
    CHECK(heavy + light >= total * 9 / 10);
    CHECK(heavy > light);
    // Its last samples, unwound after it exited, are named in its last maps: no stack is a bare
    // address (a zombie's maps are empty, and were once read as such).
    long bare = 0;
    for (const auto& [stack, count] : folded)
        if (stack.rfind("0x", 0) == 0)
            bare += count;
    CHECK(bare == 0);
}

TEST_CASE("record -- COMMAND ends with the command's exit status, and names a command that ended at once",
          "[record][command]") {
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            std::string out = temp_path("command-status.txt");
            // Ended before sampling began, or while sampler was starting (then /proc had no
            // command line for it any more): its status either way (42: no error of sampler's).
            CommandResult failed = run_sampler(
                {"record", "--capture", engine, "-f", "folded", "-o", out, "--", "sh", "-c", "exit 42"});
            INFO(failed.err);
            CHECK(failed.exit_code == 42);
            CHECK(failed.err.find("sampler: the command exited with status 42\n") != std::string::npos);
            if (failed.err.find("sampler: recording process ") != std::string::npos) {
                CHECK(failed.err.find(" (sh -c exit 42) at 100 Hz") != std::string::npos);
                CHECK(failed.err.find("sampler: wrote folded stacks to " + out) != std::string::npos);
            } else {
                CHECK(failed.err.find(
                          "sampler: the command ended before sampling began: nothing was recorded") !=
                      std::string::npos);
            }
            // Killed by a signal while sampled: 128 + its number, as a shell tells it.
            CommandResult killed = run_sampler({"record", "--capture", engine, "-f", "folded", "-o", out,
                                                "--", "sh", "-c", "sleep 0.5; kill -SEGV $$"});
            INFO(killed.err);
            CHECK(killed.exit_code == 128 + SIGSEGV);
            CHECK(killed.err.find("sampler: the command was killed by signal 11 (Segmentation fault)") !=
                  std::string::npos);
            CHECK(killed.err.find("sampler: wrote folded stacks to " + out) != std::string::npos);
            CommandResult fine = run_sampler(
                {"record", "--capture", engine, "-f", "folded", "-o", out, "--", "sh", "-c", "exit 0"});
            INFO(fine.err);
            CHECK(fine.exit_code == 0);
            // Told only when it failed (it may have ended before sampling began, which is said).
            CHECK(fine.err.find("the command exited") == std::string::npos);
            CHECK(fine.err.find("the command was killed") == std::string::npos);
        }
}

TEST_CASE("record -- COMMAND stopped by Ctrl-C tells the command's end, stopped alone it leaves the command "
          "running and exits 0",
          "[record][command]") {
    const std::regex recording("sampler: recording process ([0-9]+) ");
    for (const bool whole_group : {true, false})
        DYNAMIC_SECTION((whole_group ? "Ctrl-C: the whole process group" : "SIGINT to sampler alone")) {
            std::string out = temp_path("command-interrupted.txt");
            // Its own process group, as a terminal's foreground job.
            ChildProcess sampler(
                {sampler_binary(), "record", "-f", "folded", "-o", out, "--", "/bin/sleep", "30"});
            REQUIRE(wait_for_errors(sampler, "at 100 Hz", std::chrono::seconds(30)));
            std::smatch match;
            const std::string started = sampler.errors();
            REQUIRE(std::regex_search(started, match, recording));
            const int command = std::stoi(match[1]);
            ::kill(whole_group ? -sampler.pid() : sampler.pid(), SIGINT);
            const int code = sampler.wait(std::chrono::seconds(30));
            const std::string err = sampler.errors();
            INFO(err);
            if (whole_group) {
                CHECK(code == 128 + SIGINT);
                CHECK(err.find("sampler: the command was killed by signal 2 (Interrupt)") !=
                      std::string::npos);
            } else {
                CHECK(code == 0);
                CHECK(err.find("the command exited") == std::string::npos);
                CHECK(err.find("the command was killed") == std::string::npos);
                CHECK(process_state(command) == 'S'); // it runs on
            }
            CHECK(err.find("sampler: wrote folded stacks to " + out) != std::string::npos);
            // Reaped by init (sampler, its parent, has exited). On a failed REQUIRE above,
            // `sampler`'s end kills its process group, the command in it.
            ::kill(command, SIGKILL);
        }
}

TEST_CASE("record names its output after the PID and time by default", "[record][naming]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    std::string dir = temp_path("");
    ChildProcess sampler({"/bin/sh", "-c",
                          "cd '" + dir + "' && exec " + sampler_binary() + " record -f folded -d 1 --pid " +
                              std::to_string(target.pid())});
    REQUIRE(sampler.wait(30s) == 0);
    std::string err = sampler.errors();
    std::string prefix = "sampler-" + std::to_string(target.pid()) + "-";
    std::size_t at = err.find(prefix);
    REQUIRE(at != std::string::npos);
    std::string name = err.substr(at, prefix.size() + 15 + 4);
    CHECK(name.substr(name.size() - 4) == ".txt");
    CHECK(name[prefix.size() + 8] == 'T');
    CHECK_FALSE(read_file(dir + name).empty());
}

TEST_CASE("separate debug files are found through .gnu_debuglink", "[record][debuglink]") {
    ChildProcess target({fixture_path("workload_debuglink"), "split"});
    wait_until_started(target);
    // Names and lines come from workload.debug: the executable itself has neither.
    const std::string expected = "run_split_forever() (" + source_path("tests/fixtures/workload.cpp") + ":";
    // A dump is one instant: on a loaded machine the fixture can still be in the dynamic loader
    // after wait_until_started's grace period, so a stack without its loop is looked at again.
    CommandResult result;
    for (int attempt = 0; attempt < 10; ++attempt) {
        result = run_sampler({"dump", "--pid", std::to_string(target.pid())});
        if (result.exit_code != 0 || result.out.find(expected) != std::string::npos)
            break;
        std::this_thread::sleep_for(300ms);
    }
    INFO("last dump:\n" << result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find(expected) != std::string::npos);
}

TEST_CASE("inlined frames keep their names when the DWARF refers to a dwz common file", "[record][dwz]") {
    // Debug packages (Debian's dbgsym, Fedora's debuginfo) move the DWARF their files share into
    // a common file (dwz), named by .gnu_debugaltlink; libdwfl asks for it through the same
    // callback as the module's own debug file, which is found by the module's build ID. Both are
    // installed here under /usr/lib/debug, the program with its DWARF and stripped of it.
    if (::geteuid() != 0)
        skip_test("installs debug files under /usr/lib/debug: needs root");
    if (std::system("command -v dwz > /dev/null") != 0)
        skip_test("dwz is not installed (scripts/install-deps.sh installs it)");
    const std::string dir = temp_path("dwz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string common = "/usr/lib/debug/.dwz/sampler-test-" + std::to_string(::getpid()) + ".debug";
    // The build ID workload_own_id is linked with (tests/fixtures/CMakeLists.txt).
    const std::string debug_file = "/usr/lib/debug/.build-id/73/616d706c65722d74657374646f776e.debug";
    RemovedAtEnd remove_common{common}, remove_debug_file{debug_file};
    const std::string program = dir + "/program", stripped = dir + "/program_stripped";
    const std::string setup = "set -e; cd '" + dir + "'; cp '" + fixture_path("workload_own_id") +
                              "' program; cp program twin; mkdir -p /usr/lib/debug/.dwz "
                              "/usr/lib/debug/.build-id/73; dwz -m common -M '" +
                              common + "' program twin; cp common '" + common +
                              "'; objcopy --only-keep-debug program '" + debug_file +
                              "'; objcopy --strip-debug program program_stripped";
    REQUIRE(std::system(setup.c_str()) == 0);
    for (const std::string& binary : {program, stripped}) {
        INFO(binary);
        ChildProcess target({binary, "split"});
        wait_until_started(target);
        auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "dwz", 100);
        const long total = total_samples(folded);
        REQUIRE(total > 100);
        // Its DIE is in the common file: looked up in the wrong file, the frame is an address.
        CHECK(samples_matching(folded, "burn(unsigned long);mix_step(unsigned long)") > total / 2);
    }
}

TEST_CASE("code in the vDSO is named and unwound through", "[record][vdso]") {
    ChildProcess target({fixture_path("clock_loop")});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "vdso", 100);
    long total = total_samples(folded);
    REQUIRE(total > 100);
    CHECK(samples_matching(folded, "main;clock_gettime") > total * 80 / 100);
    CHECK(samples_matching(folded, "__vdso_clock_gettime") > total / 4);
}

TEST_CASE("code described only in .debug_frame is unwound through", "[record][debug_frame]") {
    ChildProcess target({fixture_path("debug_frame_only")});
    wait_until_started(target);
    auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "debug-frame", 100);
    long total = total_samples(folded);
    REQUIRE(total > 100);
    CHECK(samples_matching(
              folded, "__libc_start_main;__libc_start_call_main;main;outer_debug_frame;inner_debug_frame") >
          total * 9 / 10);
}

TEST_CASE("a fractional rate is used and shown as given", "[record][rate]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    CommandResult result = run_sampler({"record", "--pid", std::to_string(target.pid()), "-r", "2.5", "-d",
                                        "0.5", "-f", "folded", "-o", temp_path("fractional.txt")});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("at 2.5 Hz") != std::string::npos);
    CHECK(result.err.find("of 2.5 Hz requested") != std::string::npos);
}

TEST_CASE("an executable or library upgraded under a running process is still symbolized and unwound",
          "[faults][upgrade]") {
    namespace fs = std::filesystem;
    // A package upgrade writes the new version beside the old and renames it over; an uninstall
    // deletes it. Either way the old file lives on only in the process's mappings.
    const std::string how = GENERATE(std::string("executable replaced"), std::string("executable deleted"),
                                     std::string("library replaced"));
    SECTION(how) {
        const bool library = how.starts_with("library");
        const fs::path dir = temp_path("upgrade");
        fs::remove_all(dir);
        fs::create_directories(dir);
        fs::copy_file(fixture_path("workload"), dir / "workload");
        fs::copy_file(fixture_path("libfixture_shared.so"), dir / "libfixture_shared.so");
        const fs::path old_file = dir / (library ? "libfixture_shared.so" : "workload");
        ChildProcess target({"/usr/bin/env", "LD_LIBRARY_PATH=" + dir.string(), (dir / "workload").string(),
                             library ? "shared" : "split"});
        REQUIRE(wait_until_mapped(target.pid(), old_file.string()));
        std::this_thread::sleep_for(200ms); // into its loop
        if (how.ends_with("deleted")) {
            fs::remove(old_file);
        } else {
            fs::copy_file(fixture_path("workload_stripped"), dir / "new-version");
            fs::rename(dir / "new-version", old_file);
        }
        REQUIRE(read_file("/proc/" + std::to_string(target.pid()) + "/maps").find(" (deleted)") !=
                std::string::npos);
        auto folded = record_folded(target, {"-r", "200", "-d", "2"}, "upgrade", 100);
        long total = total_samples(folded);
        REQUIRE(total > 100);
        CHECK(samples_matching(folded, library ? "main;shared_library_work"
                                               : "main;run_split_forever();parent_") > total * 80 / 100);
        CHECK(samples_matching(folded, "(deleted)") == 0);
        fs::remove_all(dir);
    }
}

// Bad input gets a clear message and a non-zero exit, and leaves the target untouched.
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace sampler::testing;
using namespace std::chrono_literals;

TEST_CASE("no such PID", "[errors]") {
    CommandResult result = run_sampler({"dump", "--pid", "999999999"});
    CHECK(result.exit_code == 3);
    CHECK(result.err.find("no such process: 999999999") != std::string::npos);
    result = run_sampler({"record", "--pid", "999999999", "-d", "1"});
    CHECK(result.exit_code == 3);
}

namespace {

// A kernel thread's PID (PF_KTHREAD in /proc/PID/stat's flags), or 0 when none is visible (a
// PID namespace of our own).
int some_kernel_thread() {
    constexpr unsigned long kernel_thread_flag = 0x00200000;
    for (int pid = 2; pid < 200; ++pid) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const std::size_t close = text.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream fields(text.substr(close + 2));
        std::string state;
        long ppid = 0, group = 0, session = 0, tty = 0, foreground = 0;
        unsigned long flags = 0;
        if (fields >> state >> ppid >> group >> session >> tty >> foreground >> flags &&
            (flags & kernel_thread_flag))
            return pid;
    }
    return 0;
}

} // namespace

TEST_CASE("a kernel thread is refused as one, by every command", "[errors]") {
    const int kernel_thread = some_kernel_thread();
    if (kernel_thread == 0)
        skip_test("no kernel thread visible (a PID namespace of our own)");
    const std::string pid = std::to_string(kernel_thread);
    for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
             {"dump", "--pid", pid},
             {"record", "--pid", pid, "-d", "1", "-o", temp_path("kthread.svg")},
             {"top", "--pid", pid, "--once", "--delay", "1"}}) {
        INFO(command[0]);
        const CommandResult result = run_sampler(command);
        INFO(result.err);
        CHECK(result.exit_code == 6);
        CHECK(result.err.find("process " + pid + " is a kernel thread") != std::string::npos);
    }
}

TEST_CASE("the profiler's own PID is refused", "[errors]") {
    ChildProcess shell({"/bin/sh", "-c", "exec " + sampler_binary() + " dump --pid $$"});
    CHECK(shell.wait(20s) == 2);
    CHECK(shell.errors().find("is sampler itself") != std::string::npos);
}

TEST_CASE("no permission explains what to do", "[errors]") {
    if (::geteuid() != 0)
        skip_test("needs root to run sampler as an unprivileged user");
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    ChildProcess sampler({sampler_binary(), "dump", "--pid", std::to_string(target.pid())}, 65534);
    int code = sampler.wait(20s);
    INFO(sampler.errors());
    CHECK(code == 4);
    CHECK(sampler.errors().find("no permission to attach to process " + std::to_string(target.pid())) !=
          std::string::npos);
    CHECK(sampler.errors().find("CAP_SYS_PTRACE") != std::string::npos);
    CHECK(process_state(target.pid()) == 'R');
}

TEST_CASE("a target of one's own that is not dumpable is refused, and the error says why", "[errors]") {
    if (::geteuid() != 0)
        skip_test("needs root to run the target and sampler as an unprivileged user");
    ChildProcess target({fixture_path("workload"), "undumpable"}, 65534);
    wait_until_started(target);
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"dump"}, {"record", "-d", "1", "-o", "/dev/null", "-f", "folded"}}) {
        std::vector<std::string> argv{sampler_binary()};
        argv.insert(argv.end(), command.begin(), command.end());
        argv.insert(argv.end(), {"--pid", std::to_string(target.pid())});
        ChildProcess sampler(argv, 65534);
        const int code = sampler.wait(20s);
        INFO(command[0] << ": " << sampler.errors());
        CHECK(code == 4);
        CHECK(sampler.errors().find("it is yours but not dumpable") != std::string::npos);
    }
    CHECK(process_state(target.pid()) == 'R');
}

TEST_CASE("a target already traced by a debugger is refused", "[errors]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    REQUIRE(::ptrace(PTRACE_SEIZE, target.pid(), nullptr, nullptr) == 0);
    CommandResult result = run_sampler({"dump", "--pid", std::to_string(target.pid())});
    CHECK(result.exit_code == 5);
    CHECK(result.err.find("already traced by process " + std::to_string(::getpid())) != std::string::npos);
    // ChildProcess kills and reaps it; SIGKILL ends a seized tracee too.
}

TEST_CASE("unknown flags, bad values and missing targets are usage errors", "[errors]") {
    CommandResult bogus = run_sampler({"record", "--bogus"});
    CHECK(bogus.exit_code == 2);
    CHECK(bogus.err.rfind("sampler: error: ", 0) == 0);
    // Flags that need or exclude another are told as every other error.
    CommandResult alone = run_sampler({"record", "--pid", "1", "--stalls-only"});
    CHECK(alone.exit_code == 2);
    CHECK(alone.err.rfind("sampler: error: --stalls-only requires --asyncio", 0) == 0);
    CommandResult rate = run_sampler({"record", "--pid", "1", "--rate", "0"});
    CHECK(rate.exit_code != 0);
    CHECK(rate.err.find("rate") != std::string::npos);
    CommandResult format = run_sampler({"record", "--pid", "1", "-f", "png"});
    CHECK(format.exit_code != 0);
    CHECK(format.err.find("format") != std::string::npos);
    CommandResult nothing = run_sampler({"record"});
    CHECK(nothing.exit_code == 2);
    CHECK(nothing.err.find("--pid") != std::string::npos);
    CommandResult missing = run_sampler({"record", "--", "/nonexistent/program"});
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("cannot run /nonexistent/program") != std::string::npos);
    CHECK(run_sampler({"--help"}).exit_code == 0);
}

namespace {

// A bad value gets one line saying what a valid one is, not CLI11's 300-digit range.
void check_bad_value(const std::vector<std::string>& arguments, const std::string& message) {
    CommandResult result = run_sampler(arguments);
    INFO(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err == "sampler: error: " + message + "\n");
}

} // namespace

TEST_CASE("bad numeric values say what a valid value is", "[errors][arguments]") {
    for (const std::string command : {"record", "dump", "top"}) {
        const std::string pid = "--pid: expected a process ID (a positive integer), got ";
        check_bad_value({command, "--pid", "0"}, pid + "'0'");
        check_bad_value({command, "--pid", "-1"}, pid + "'-1'");
        check_bad_value({command, "--pid", "abc"}, pid + "'abc'");
        check_bad_value({command, "--pid", ""}, pid + "an empty value");
        check_bad_value({command, "--pid", "1", "--max-stack", "100"},
                        "--max-stack: expected a number of bytes from 256 to 8388608, got '100'");
        check_bad_value({command, "--pid", "1", "--max-depth", "0"},
                        "--max-depth: expected a number of frames from 1 to 65536, got '0'");
    }
    const std::string duration = "--duration: expected a number of seconds greater than 0, got ";
    check_bad_value({"record", "--pid", "1", "-d", "0"}, duration + "'0'");
    check_bad_value({"record", "--pid", "1", "-d", "-1"}, duration + "'-1'");
    check_bad_value({"record", "--pid", "1", "-d", "nan"}, duration + "'nan'");
    for (const std::string command : {"record", "top"})
        check_bad_value({command, "--pid", "1", "-r", "0.5"},
                        "--rate: expected samples per second, a number from 1 to 10000, got '0.5'");
    for (const std::string command : {"record", "top"})
        for (const std::string engine : {"bogus", "1", ""})
            check_bad_value({command, "--pid", "1", "--capture", engine},
                            "--capture: expected a capture engine, auto, perf or ptrace, got '" + engine +
                                "'");
    check_bad_value({"top", "--pid", "1", "--delay", "0"},
                    "--delay: expected a number of seconds from 0.1 to 3600, got '0'");
    check_bad_value({"top", "--pid", "1", "--rows", "1.5"},
                    "--rows: expected a number of rows from 1 to 1000000, got '1.5'");
    check_bad_value({"record", "--pid", "1", "--minwidth", "-1"},
                    "--minwidth: expected a width in pixels from 0 to 10000, got '-1'");
    check_bad_value({"flamegraph", "in.folded", "--minwidth", "x"},
                    "--minwidth: expected a width in pixels from 0 to 10000, got 'x'");
}

TEST_CASE("an empty output or input name is refused", "[errors][arguments]") {
    const std::string output = "--output: expected a file name, or '-' for stdout, got an empty value";
    check_bad_value({"record", "--pid", "1", "-o", ""}, output);
    check_bad_value({"flamegraph", "in.folded", "-o", ""}, output);
    check_bad_value({"diff", "a", "b", "-o", ""}, output);
    check_bad_value({"flamegraph", ""},
                    "input: expected a folded stacks file, or '-' for stdin, got an empty value");
}

TEST_CASE("flamegraph and diff refuse inputs with nothing usable in them", "[errors][inputs]") {
    const std::string good = temp_path("good.folded");
    write_text(good, "main;work 3\n");
    const std::string empty = temp_path("empty.folded");
    write_text(empty, "\n\n");
    const std::string broken = temp_path("broken.folded");
    write_text(broken, "no count here\nmain;work lots\n");
    const std::string huge = temp_path("huge.folded");
    write_text(huge, "main;a 9223372036854775807\nmain;b 9223372036854775807\n");
    const std::string svg = temp_path("good.svg");
    REQUIRE(run_sampler({"flamegraph", good, "-o", svg}).exit_code == 0);

    struct Case {
        std::vector<std::string> arguments;
        std::string message;
    };
    const std::vector<Case> cases{
        {{"flamegraph", temp_path("")}, "cannot read " + temp_path("") + ": it is a directory"},
        {{"flamegraph", empty}, empty + " is empty"},
        {{"flamegraph", "-"}, "stdin is empty"},
        {{"flamegraph", broken},
         broken + " holds no folded stacks: all 2 lines are malformed (the first is line 1)"},
        {{"diff", good, svg}, svg + " is an SVG or XML file, not folded stacks"},
        {{"diff", empty, good}, empty + " is empty"},
        {{"flamegraph", huge}, huge + ": line 1: its count takes the total past 2^53 samples"},
    };
    for (const Case& bad : cases) {
        CommandResult result = run_sampler(bad.arguments);
        INFO(bad.arguments.back() << ": " << result.err);
        CHECK(result.exit_code == 7);
        CHECK(result.err.find("sampler: error: " + bad.message) != std::string::npos);
        CHECK(result.out.empty());
    }
}

TEST_CASE("root without CAP_SYS_PTRACE is told so, not told to run as root", "[errors][permissions]") {
    if (::geteuid() != 0) {
        skip_test("needs root, to run sampler as root without CAP_SYS_PTRACE");
    }
    std::vector<std::string> drop;
    if (::access("/usr/bin/setpriv", X_OK) == 0)
        drop = {"/usr/bin/setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace", "--"};
    else if (::access("/usr/sbin/capsh", X_OK) == 0)
        drop = {"/usr/sbin/capsh", "--drop=cap_sys_ptrace", "--", "-c", "exec \"$0\" \"$@\""};
    else {
        skip_test("neither setpriv (util-linux) nor capsh (libcap2-bin) is installed");
    }
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    for (const std::string command : {"dump", "record"}) {
        std::vector<std::string> argv = drop;
        for (const std::string& argument :
             {sampler_binary(), command, std::string("--pid"), std::to_string(target.pid()),
              std::string("-o"), temp_path("no-cap.svg")})
            argv.push_back(argument);
        if (command == "dump")
            argv.resize(argv.size() - 2); // no -o
        ChildProcess sampler(argv);
        INFO(command << ": " << sampler.errors());
        CHECK(sampler.wait(20s) == 4);
        CHECK(sampler.errors().find("runs as root but without CAP_SYS_PTRACE") != std::string::npos);
        CHECK(sampler.errors().find("the target holds capabilities sampler lacks (CAP_SYS_PTRACE)") !=
              std::string::npos);
        CHECK(sampler.errors().find("run it as root") == std::string::npos);
    }
    check_target_runs_on(target.pid());
}

TEST_CASE("a refusal with none of the usual causes still gets a hint", "[errors][permissions]") {
    // Process 1 is protected in some sandboxes (the one this was written in refuses even root);
    // where it is not, there is no refusal to explain.
    CommandResult result = run_sampler({"dump", "--pid", "1"});
    if (result.exit_code != 4) {
        // Nothing refused: then the dump must simply have worked.
        INFO(result.err);
        CHECK(result.exit_code == 0);
        return;
    }
    INFO(result.err);
    CHECK(result.err.find("\n  - ") != std::string::npos);
}

TEST_CASE("root without CAP_PERFMON samples user mode only, and says so", "[errors][permissions][perf]") {
    if (::geteuid() != 0) {
        skip_test("needs root, to run sampler as root without CAP_PERFMON and CAP_SYS_ADMIN");
    }
    if (::access("/usr/bin/setpriv", X_OK) != 0) {
        skip_test("setpriv (util-linux) is not installed");
    }
    const std::string perf_event_paranoid = read_file("/proc/sys/kernel/perf_event_paranoid");
    if (std::atoi(perf_event_paranoid.c_str()) > 2) {
        skip_test("kernel.perf_event_paranoid is above 2: perf_event needs CAP_PERFMON even for user mode");
    }
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = temp_path("no-perfmon.folded");
    ChildProcess sampler({"/usr/bin/setpriv", "--inh-caps=-perfmon,-sys_admin",
                          "--bounding-set=-perfmon,-sys_admin", "--", sampler_binary(), "record", "--capture",
                          "perf", "--pid", std::to_string(target.pid()), "-d", "1", "-f", "folded", "-o",
                          out});
    REQUIRE(sampler.wait(30s) == 0);
    INFO(sampler.errors());
    CHECK(sampler.errors().find("perf_event without CAP_PERFMON samples user mode only") !=
          std::string::npos);
    CHECK(sampler.errors().find("user mode only (no CAP_PERFMON)") != std::string::npos);
    CHECK(sampler.errors().find("run it as root") == std::string::npos);
    CHECK(samples_matching(parse_folded(read_file(out)), "parent_heavy()") > 0);
    check_target_runs_on(target.pid());
}

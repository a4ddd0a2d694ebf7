// `record --tasks` on python/task_split.py, whose event loop splits its CPU 3:1:1 between task
// "cruncher" (coroutine Worker.crunch), an unnamed task (coroutine nibble) and a plain callback,
// on every CPython 3.8-3.13 and Debian's static 3.11, with the C Task and the pure-Python one: the
// folded stacks' roots split the loop thread's samples by task, with the tasks' names and
// coroutines, in shares within tolerances of that ratio; the helper thread, which runs no loop,
// keeps its stacks unchanged; with --threads the task root comes first; --tasks composes with
// --asyncio (--stalls-only keeps the roots of the stalls' tasks); a Python program without asyncio
// and an interpreter older than 3.8 are recorded as usual, with a note.
#include "asyncio_interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <map>
#include <set>
#include <sstream>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

const std::string fixture = source_path("tests/integration/python/task_split.py");
#ifdef SAMPLER_SANITIZED_BUILD
constexpr bool sanitized_build = true;
#else
constexpr bool sanitized_build = false;
#endif
const std::string no_task = "loop (no task)";

struct Fixture {
    Fixture(const Interpreter& interpreter, bool python_tasks) : process(argv(interpreter, python_tasks)) {
        INFO("fixture stderr: " << process.errors());
        REQUIRE(wait_for_output(process, "ready\n", 30s));
        // "task NAME COROUTINE" lines: the names the fixture's tasks were given.
        std::istringstream lines(process.output());
        std::string word, name, coroutine;
        while (lines >> word)
            if (word == "task" && lines >> name >> coroutine)
                roots[coroutine] = "task " + name + " (" + coroutine + ")";
        REQUIRE(roots.size() == 2);
    }
    static std::vector<std::string> argv(const Interpreter& interpreter, bool python_tasks) {
        std::vector<std::string> args{interpreter.executable, fixture};
        if (python_tasks)
            args.push_back("--python-tasks");
        return args;
    }
    ChildProcess process;
    std::map<std::string, std::string> roots; // coroutine -> the root its task's stacks get
};

struct Recorded {
    CommandResult result;
    std::map<std::string, long> folded;
};

// Records until the target's main thread (the event loop's) has used `cpu_seconds` of CPU since
// sampling began (at most 3 minutes of waiting), then stops the recording with Ctrl-C: as many
// loop samples whatever the machine's load and whatever the helper thread took. On a busy machine
// the samples of one stretch of the loop on a CPU are not independent (a sampler that waits for a
// CPU reads the Python frames of several samples at once): shares need many stretches, that is
// CPU time, not wall time.
Recorded record(int pid, const std::string& engine, std::vector<std::string> extra = {},
                double cpu_seconds = 3) {
    const std::string folded_path = temp_path("tasks.folded");
    std::vector<std::string> args{sampler_binary(),    "record", "--tasks", "--capture", engine,   "--pid",
                                  std::to_string(pid), "-r",     "200",     "-f",        "folded", "-o",
                                  folded_path};
    args.insert(args.end(), extra.begin(), extra.end());
    ChildProcess sampler(args);
    REQUIRE(wait_for_errors(sampler, "sampler: recording", 60s));
    // On timeout: what there is.
    wait_for_thread_cpu_ticks(pid, pid, static_cast<long>(cpu_seconds * 100), 180s);
    sampler.signal(SIGINT);
    Recorded recorded;
    recorded.result.exit_code = sampler.wait(60s);
    recorded.result.err = sampler.errors();
    recorded.folded = parse_folded(read_file(folded_path));
    return recorded;
}

std::vector<std::string> frames_of(const std::string& stack) {
    std::vector<std::string> frames;
    std::istringstream in(stack);
    for (std::string frame; std::getline(in, frame, ';');)
        frames.push_back(frame);
    return frames;
}

bool is_task_root(const std::string& frame) {
    return frame.rfind("task ", 0) == 0 || frame == no_task;
}

bool has_frame(const std::vector<std::string>& frames, const std::string& name) {
    for (const std::string& frame : frames)
        if (frame.rfind(name + " (", 0) == 0)
            return true;
    return false;
}

// The task root is outermost (no process root: one target), before --threads' root.
void check_split(const Fixture& target, const Recorded& recorded) {
    INFO("sampler stderr:\n" << recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const std::string cruncher = target.roots.at("Worker.crunch");
    const std::string nibbler = target.roots.at("nibble");
    std::map<std::string, long> by_root;
    long in_loop = 0, misplaced = 0, helper_samples = 0;
    for (const auto& [stack, count] : recorded.folded) {
        INFO("stack: " << stack);
        const std::vector<std::string> frames = frames_of(stack);
        REQUIRE(frames.size() > 1);
        if (has_frame(frames, "helper")) {
            // Not a loop thread: no task root anywhere.
            helper_samples += count;
            for (const std::string& frame : frames)
                CHECK_FALSE(is_task_root(frame));
            continue;
        }
        const std::string& root = frames[0];
        if (!is_task_root(root))
            continue; // the interpreter's start-up, say; not the loop
        by_root[root] += count;
        in_loop += count;
        // Each task's stacks run its coroutine, and only those: a few may straddle a switch.
        const bool in_crunch = has_frame(frames, "crunch") || has_frame(frames, "Worker.crunch");
        const bool in_nibble = has_frame(frames, "nibble");
        const bool in_callback = has_frame(frames, "plain_callback");
        if (root == cruncher)
            misplaced += (in_nibble || in_callback) ? count : 0;
        else if (root == nibbler)
            misplaced += (in_crunch || in_callback) ? count : 0;
        else if (root == no_task)
            misplaced += (in_crunch || in_nibble) ? count : 0;
        else
            FAIL_CHECK("a root no task of the fixture should have: " << root);
    }
    INFO("loop samples " << in_loop << ": " << cruncher << " " << by_root[cruncher] << ", " << nibbler << " "
                         << by_root[nibbler] << ", " << no_task << " " << by_root[no_task]);
    REQUIRE(in_loop >= 400);
    CHECK(helper_samples > 0);
    if (sanitized_build) {
        // Under ASan sampler takes about a millisecond per sample, the length of a task's step:
        // the loop can switch away and back within one read, unseen (see the README's known
        // limit). What is checked there is the roots' structure, and that most stacks are right.
        CHECK(misplaced <= in_loop / 5);
        CHECK(by_root[cruncher] > by_root[nibbler]);
        CHECK(by_root[nibbler] > 0);
        CHECK(by_root[no_task] > 0);
    } else {
        // The running task is read around the frames and a switch in between is settled by the
        // coroutine the frames run: hardly any stack names the wrong task.
        CHECK(misplaced <= in_loop / 50);
        // 3:1 between the two tasks, which run the same code. The plain callback's 1 shares its
        // root with the loop's own code, where a thread that waits (for the GIL, for a CPU) is
        // read more often than its CPU time says on a busy machine: a wider margin.
        CHECK(double(by_root[cruncher]) / double(by_root[cruncher] + by_root[nibbler]) ==
              Approx(0.75).margin(0.1));
        CHECK(double(by_root[no_task]) / double(in_loop) == Approx(0.2).margin(0.12));
    }
    CHECK(recorded.result.err.find("sampler: --tasks: ") != std::string::npos);
    CHECK(recorded.result.err.find("stacks of event-loop threads have a task root") != std::string::npos);
    check_target_runs_on(target.process.pid());
}

std::optional<Interpreter> pyenv_or_skip(const std::string& version) {
    auto interpreter = find_pyenv_interpreter(version);
    if (!interpreter)
        skip_test("no pyenv CPython " + version + " on this machine");
    return interpreter;
}

} // namespace

TEST_CASE("Python: record --tasks splits the event loop's samples by task, named with their coroutines",
          "[python][asyncio][perf]") {
    for (const Interpreter& interpreter : asyncio_interpreters())
        for (const bool python_tasks : {false, true})
            DYNAMIC_SECTION(interpreter.label << (python_tasks ? " pure-Python Task" : " C Task")) {
                Fixture target(interpreter, python_tasks);
                check_split(target, record(target.process.pid(), "perf"));
            }
}

TEST_CASE("Python: record --tasks on the ptrace engine splits the loop the same way",
          "[python][asyncio][perf]") {
    auto interpreter = pyenv_or_skip("3.12");
    for (const bool python_tasks : {false, true})
        DYNAMIC_SECTION((python_tasks ? "pure-Python Task" : "C Task")) {
            Fixture target(*interpreter, python_tasks);
            check_split(target, record(target.process.pid(), "ptrace"));
        }
}

TEST_CASE("Python: record --tasks --threads puts the task root before the thread root",
          "[python][asyncio][perf]") {
    auto interpreter = pyenv_or_skip("3.11");
    for (const char* engine : {"perf", "ptrace"})
        DYNAMIC_SECTION(engine) {
            Fixture target(*interpreter, false);
            Recorded recorded = record(target.process.pid(), engine, {"--threads"});
            check_split(target, recorded);
            // The loop runs on the main thread; the helper has a thread root of its own. (Its name
            // is the OS one until the `threading` names are read.)
            const std::string main_thread = "thread " + std::to_string(target.process.pid()) + " (";
            long helper = 0;
            for (const auto& [stack, count] : recorded.folded) {
                INFO("stack: " << stack);
                const std::vector<std::string> frames = frames_of(stack);
                if (is_task_root(frames[0])) {
                    CHECK(frames[1].rfind(main_thread, 0) == 0);
                } else if (has_frame(frames, "helper")) {
                    helper += count;
                    CHECK(frames[0].rfind("thread ", 0) == 0);
                    CHECK(frames[0].rfind(main_thread, 0) != 0);
                }
            }
            CHECK(helper > 0);
        }
}

TEST_CASE("Python: record --tasks composes with --asyncio, and --stalls-only keeps the stalls' task roots",
          "[python][asyncio][perf]") {
    auto interpreter = pyenv_or_skip("3.12");
    SECTION("the split is the same") {
        Fixture target(*interpreter, false);
        Recorded recorded = record(target.process.pid(), "perf", {"--asyncio"});
        check_split(target, recorded);
        CHECK(recorded.result.err.find("sampler: --asyncio: ") != std::string::npos); // its summary
    }
    SECTION("--stalls-only: the stacks held until their stall ended keep their task root") {
        ChildProcess service(
            {interpreter->executable, source_path("tests/integration/python/stall_service.py"), "stalls"});
        REQUIRE(wait_for_output(service, "ready\n", 30s));
        Recorded recorded = record(service.pid(), "perf", {"--asyncio", "--stalls-only"});
        INFO("sampler stderr:\n" << recorded.result.err);
        REQUIRE(recorded.result.exit_code == 0);
        // The roots the stalls told on stderr call for: "sampler: stall 201 ms  decoder decoder (...".
        // (On a busy machine a step of chatter too may take 100 ms.)
        std::set<std::string> stalled;
        std::istringstream lines(recorded.result.err);
        for (std::string line; std::getline(lines, line);) {
            const auto at = line.find(" ms  ");
            if (line.rfind("sampler: stall ", 0) != 0 || at == std::string::npos)
                continue;
            std::istringstream words(line.substr(at + 5));
            std::string task, coroutine;
            words >> task >> coroutine;
            stalled.insert(task == "callback" ? no_task : "task " + task + " (" + coroutine + ")");
        }
        INFO("stalled: " << stalled.size());
        CHECK(stalled.count("task decoder (decoder)") == 1);
        long decoder = 0;
        for (const auto& [stack, count] : recorded.folded) {
            INFO("stack: " << stack);
            const std::string root = frames_of(stack).front();
            CHECK(stalled.count(root) == 1);
            decoder += root == "task decoder (decoder)" ? count : 0;
        }
        CHECK(decoder >= 30); // 3 s of the loop's CPU: several stalls of 200 ms on the CPU
        check_target_runs_on(service.pid());
    }
}

TEST_CASE("Python: record --tasks on a program without asyncio, or too old a CPython, records as usual "
          "with a note",
          "[python][asyncio][perf]") {
    const std::string split = source_path("tests/integration/python/split.py");
    for (const std::string version : {"3.12", "3.7"})
        DYNAMIC_SECTION("CPython " << version) {
            auto interpreter = find_pyenv_interpreter(version);
            if (!interpreter)
                skip_part("no pyenv CPython " + version + " on this machine");
            else {
                ChildProcess target({interpreter->executable, split});
                REQUIRE(wait_for_cpu_ticks(target.pid(), 20, 30s));
                Recorded recorded = record(target.pid(), "perf", {}, 2);
                INFO("sampler stderr:\n" << recorded.result.err);
                REQUIRE(recorded.result.exit_code == 0);
                CHECK(samples_matching(recorded.folded, "heavy") > 100); // of 400 in 2 s of CPU
                for (const auto& [stack, count] : recorded.folded)
                    CHECK_FALSE(is_task_root(frames_of(stack).front()));
                CHECK(recorded.result.err.find(
                          "sampler: --tasks: no running asyncio event loop with tasks was "
                          "found (CPython 3.8-3.13): no stack has a task root") != std::string::npos);
                if (version == "3.7")
                    CHECK(recorded.result.err.find(
                              "sampler: --tasks: process " + std::to_string(target.pid()) +
                              " gets no task roots (it is recorded as usual): asyncio "
                              "tasks can be read from CPython 3.8 to 3.13") != std::string::npos);
                check_target_runs_on(target.pid());
            }
        }
}

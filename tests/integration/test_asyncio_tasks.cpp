// `sampler dump --tasks` on a known tree of asyncio tasks (python/asyncio_tree.py), on every
// CPython 3.8-3.13 and Debian's static python3.11, with the C Task and with the pure-Python
// Task: the tasks, their states, their coroutine chains (name, file, line) and who awaits whom
// must be exactly what the fixture reports about itself, in JSON and drawn as a text tree, for
// both of its event loops (the main thread's, and a second one in a thread of its own).
#include "asyncio_interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

const std::string fixture = source_path("tests/integration/python/asyncio_tree.py");

struct Awaiter {
    std::string name;
    std::string via;
    auto operator<=>(const Awaiter&) const = default;
};

struct KnownTask {
    std::string state;
    bool python_task = false;
    std::vector<std::string> coroutines; // "name (file:line)", innermost first
    std::vector<Awaiter> awaited_by;
};

using KnownTasks = std::map<std::string, KnownTask>;

// One event loop as the fixture reports it.
struct KnownLoop {
    int tid = 0;
    std::string thread;
    KnownTasks tasks;
    std::string running; // empty: none
};

std::string coroutine_label(const nlohmann::json& frame) {
    return frame["name"].get<std::string>() + " (" + frame["file"].get<std::string>() + ":" +
           std::to_string(frame.value("line", 0)) + ")";
}

std::vector<Awaiter> awaiters(const nlohmann::json& list) {
    std::vector<Awaiter> result;
    for (const auto& entry : list)
        result.push_back({entry["name"], entry["via"]});
    std::sort(result.begin(), result.end());
    return result;
}

// The spinner's innermost coroutine runs: it is at some line of its loop. Expected as "spin
// (FILE:*)".
const std::string spinning = "spin (" + fixture + ":*)";

bool same_coroutine(const std::string& expected, const std::string& label) {
    if (expected != spinning)
        return label == expected;
    const std::string prefix = "spin (" + fixture + ":";
    if (label.rfind(prefix, 0) != 0 || label.back() != ')')
        return false;
    const int line = std::stoi(label.substr(prefix.size()));
    return line >= line_of_marker(fixture, "MARK: spin-first") &&
           line <= line_of_marker(fixture, "MARK: spin-last");
}

struct TaskTree;
void wait_until_spinning(const TaskTree& tree);

// The fixture, running until the test ends, and what it reported about its tasks.
struct TaskTree {
    TaskTree(const Interpreter& interpreter, bool python_tasks)
        : report_path(
              temp_path("asyncio-tree-" + interpreter.label + (python_tasks ? "-py" : "-c") + ".json")),
          process(start(interpreter, python_tasks, report_path)) {
        std::string text;
        for (int waited = 0; waited < 600 && text.empty(); ++waited) {
            std::this_thread::sleep_for(50ms);
            text = read_file(report_path);
        }
        INFO("fixture stderr: " << process.errors());
        REQUIRE_FALSE(text.empty());
        const auto report = nlohmann::json::parse(text);
        main.tid = process.pid();
        main.thread = "MainThread";
        main.tasks = known_tasks(report["tasks"]);
        background.tid = report["background"]["tid"];
        background.thread = report["background"]["thread"];
        background.tasks = known_tasks(report["background"]["tasks"]);
        // The spinner is past its report and in its loop.
        main.running = "spinner";
        main.tasks["spinner"].coroutines = {
            spinning,
            "spinner (" + fixture + ":" + std::to_string(line_of_marker(fixture, "MARK: spinner")) + ")"};
        wait_until_spinning(*this);
    }

    static ChildProcess start(const Interpreter& interpreter, bool python_tasks, const std::string& report) {
        std::remove(report.c_str());
        std::vector<std::string> argv{interpreter.executable, fixture, report};
        if (python_tasks)
            argv.push_back("--python-tasks");
        return ChildProcess(argv);
    }

    std::string pid() const { return std::to_string(process.pid()); }

    static KnownTasks known_tasks(const nlohmann::json& reported) {
        KnownTasks tasks;
        for (const auto& task : reported) {
            KnownTask& known = tasks[task["name"]];
            known.state = task["state"];
            known.python_task = task["python_task"];
            for (const auto& frame : task["coroutines"])
                known.coroutines.push_back(coroutine_label(frame));
            known.awaited_by = awaiters(task["awaited_by"]);
        }
        return tasks;
    }

    std::string report_path;
    ChildProcess process;
    KnownLoop main;
    KnownLoop background;
};

// The task no other awaits: Task-1 (3.13.0 names it "None" when a task factory is set).
std::string root_of(const KnownTasks& tasks) {
    for (const auto& [name, task] : tasks)
        if (task.awaited_by.empty())
            return name;
    return {};
}

CommandResult dump_tasks(const TaskTree& tree, std::vector<std::string> extra) {
    std::vector<std::string> args{"dump", "--tasks", "--pid", tree.pid(), "--full-filenames"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_sampler(args);
}

// Right after its report the spinner may still be on its way into its loop: waits (bounded)
// until a dump shows it there, where it then stays.
void wait_until_spinning(const TaskTree& tree) {
    const std::regex spin("spin \\(" + fixture + ":\\d+\\)");
    for (int attempt = 0; attempt < 20; ++attempt) {
        const CommandResult result = dump_tasks(tree, {});
        std::smatch match;
        if (std::regex_search(result.out, match, spin) && same_coroutine(spinning, match.str()))
            return;
        std::this_thread::sleep_for(100ms);
    }
}

void check_loop_json(const nlohmann::json& loop, const KnownLoop& known, bool stopped) {
    INFO("loop of thread " << known.thread);
    CHECK(loop["tid"] == known.tid);
    CHECK(loop["thread"] == known.thread);
    CHECK(loop["running"] == true);
    CHECK(loop["stopped"] == stopped);
    CHECK(loop["truncated"] == false);
    CHECK(loop["errors"] == 0);
    std::map<std::string, nlohmann::json> listed;
    for (const auto& task : loop["tasks"])
        listed[task["name"]] = task;
    std::vector<std::string> expected_names, listed_names;
    for (const auto& [name, task] : known.tasks)
        expected_names.push_back(name);
    for (const auto& [name, task] : listed)
        listed_names.push_back(name);
    REQUIRE(listed_names == expected_names);
    for (const auto& [name, task] : known.tasks) {
        INFO("task " << name);
        const nlohmann::json& read = listed[name];
        CHECK(read["state"] == task.state);
        CHECK(read["cancelled"] == false);
        CHECK(read["python_task"] == task.python_task);
        CHECK(read["chain_truncated"] == false);
        CHECK(awaiters(read["awaited_by"]) == task.awaited_by);
        std::vector<std::string> coroutines;
        for (const auto& frame : read["coroutines"])
            coroutines.push_back(coroutine_label(frame));
        INFO("coroutines: " << nlohmann::json(coroutines).dump());
        REQUIRE(coroutines.size() == task.coroutines.size());
        for (std::size_t i = 0; i < coroutines.size(); ++i)
            CHECK(same_coroutine(task.coroutines[i], coroutines[i]));
    }
    if (known.running.empty())
        CHECK(loop["running_task"].is_null());
    else
        CHECK(loop["running_task"] == listed[known.running]["id"]);
}

void check_json(const TaskTree& tree, const std::string& out, bool stopped) {
    const auto document = nlohmann::json::parse(out);
    CHECK(document["pid"] == tree.process.pid());
    REQUIRE(document["loops"].size() == 2);
    // By the id of the thread running the loop: the main thread's first.
    check_loop_json(document["loops"][0], tree.main, stopped);
    check_loop_json(document["loops"][1], tree.background, stopped);
}

// The tree as dump draws it: from the root, children by name, each with its coroutines.
void draw(const KnownTasks& tasks, const std::string& name, const std::string& lead, const std::string& rest,
          std::vector<std::string>& lines) {
    const KnownTask& task = tasks.at(name);
    lines.push_back(lead + name + " [" + task.state + "]" +
                    (task.awaited_by.empty() ? "" : " via " + task.awaited_by[0].via));
    std::vector<std::string> children;
    for (const auto& [child, known] : tasks)
        if (!known.awaited_by.empty() && known.awaited_by[0].name == name)
            children.push_back(child); // std::map: by name already
    for (const std::string& coroutine : task.coroutines)
        lines.push_back(rest + (children.empty() ? "    " : "│   ") + coroutine);
    for (std::size_t i = 0; i < children.size(); ++i) {
        const bool last = i + 1 == children.size();
        draw(tasks, children[i], rest + (last ? "└── " : "├── "), rest + (last ? "    " : "│   "), lines);
    }
}

// The lines of one loop's block: its header, then its tree, up to the next blank line.
void check_loop_text(const std::vector<std::string>& lines, const KnownLoop& known) {
    INFO("loop of thread " << known.thread);
    std::vector<std::string> expected;
    draw(known.tasks, root_of(known.tasks), "", "", expected);
    const std::size_t count = known.tasks.size();
    const std::regex header("Thread " + std::to_string(known.tid) + " \\(" + known.thread +
                            "\\), event loop 0x[0-9a-f]+: " + std::to_string(count) +
                            (count == 1 ? " task" : " tasks"));
    auto found = std::find_if(lines.begin(), lines.end(),
                              [&](const std::string& line) { return std::regex_match(line, header); });
    REQUIRE(found != lines.end());
    const std::vector<std::string> drawn(found + 1, std::find(found, lines.end(), std::string()));
    REQUIRE(drawn.size() == expected.size());
    for (std::size_t i = 0; i < drawn.size(); ++i) {
        const std::size_t star = expected[i].find(spinning);
        if (star == std::string::npos) {
            CHECK(drawn[i] == expected[i]);
        } else {
            CHECK(drawn[i].substr(0, star) == expected[i].substr(0, star));
            CHECK(same_coroutine(spinning, drawn[i].substr(star)));
        }
    }
}

void check_text(const TaskTree& tree, const std::string& out) {
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    check_loop_text(lines, tree.main);
    check_loop_text(lines, tree.background);
}

// What the fixture's own report must say, whatever the reader does: the known tree.
void check_report(const TaskTree& tree, const std::string& label) {
    const KnownTasks& tasks = tree.main.tasks;
    const bool task_groups = label != "3.8" && label != "3.9" && label != "3.10";
    CHECK(tasks.size() == (task_groups ? 10u : 7u));
    const std::string root = root_of(tasks);
    CHECK((root == "Task-1" || (label == "3.13" && root == "None")));
    std::size_t roots = 0;
    for (const auto& [name, task] : tasks)
        roots += task.awaited_by.empty();
    CHECK(roots == 1);
    CHECK(tasks.at("quick").state == "done");
    CHECK(tasks.at("spinner").state == "running");
    CHECK(tasks.at("inner").awaited_by == std::vector<Awaiter>{{"waiter", "await"}});
    const std::string sleeper =
        "sleeper (" + fixture + ":" + std::to_string(line_of_marker(fixture, "MARK: sleeper")) + ")";
    CHECK(tasks.at("sleeper").coroutines.back() == sleeper);
    CHECK(tasks.at("sleeper").coroutines.size() == 3); // sleep, nap, sleeper
    CHECK(tree.background.thread == "loop-thread");
    CHECK(tree.background.tasks.size() == 1);
    CHECK(tree.background.tasks.at("background").coroutines.size() == 2); // sleep, background
}

} // namespace

TEST_CASE("Python: dump --tasks draws the known tree of asyncio tasks exactly, text and JSON",
          "[python][dump][asyncio]") {
    for (const Interpreter& interpreter : asyncio_interpreters()) {
        for (const bool python_tasks : {false, true}) {
            DYNAMIC_SECTION(interpreter.label << (python_tasks ? " pure-Python Task" : " C Task")) {
                TaskTree tree(interpreter, python_tasks);
                check_report(tree, interpreter.label);
                CommandResult json = dump_tasks(tree, {"--json"});
                INFO("dump --tasks --json:\n" << json.out << "\nstderr: " << json.err);
                REQUIRE(json.exit_code == 0);
                check_json(tree, json.out, true);
                CommandResult text = dump_tasks(tree, {});
                INFO("dump --tasks:\n" << text.out << "\nstderr: " << text.err);
                REQUIRE(text.exit_code == 0);
                check_text(tree, text.out);
                check_target_runs_on(tree.process.pid());
            }
        }
    }
}

TEST_CASE("Python: dump --tasks --nonblocking reads the same tree without stopping the loop",
          "[python][dump][asyncio]") {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    TaskTree tree(*interpreter, false);
    CommandResult json = dump_tasks(tree, {"--json", "--nonblocking"});
    INFO("dump --tasks --json --nonblocking:\n" << json.out << "\nstderr: " << json.err);
    REQUIRE(json.exit_code == 0);
    check_json(tree, json.out, false);
    CommandResult text = dump_tasks(tree, {"--nonblocking"});
    CHECK(text.out.find("(read while its thread ran: the tree may be torn)") != std::string::npos);
}

TEST_CASE("Python: dump --tasks says why there are none, or why it cannot read them",
          "[python][dump][asyncio]") {
    if (auto interpreter = find_pyenv_interpreter("3.12")) {
        ChildProcess plain({interpreter->executable, source_path("tests/integration/python/split.py")});
        wait_until_started(plain);
        std::this_thread::sleep_for(300ms);
        CommandResult text = run_sampler({"dump", "--tasks", "--pid", std::to_string(plain.pid())});
        INFO(text.out << text.err);
        CHECK(text.exit_code == 0);
        CHECK(text.out.find("\nNo asyncio tasks: asyncio is not imported\n") != std::string::npos);
        CommandResult json = run_sampler({"dump", "--tasks", "--json", "--pid", std::to_string(plain.pid())});
        REQUIRE(json.exit_code == 0);
        const auto document = nlohmann::json::parse(json.out);
        CHECK(document["loops"].empty());
        CHECK(document["why_none"] == "asyncio is not imported");
        CommandResult native =
            run_sampler({"dump", "--tasks", "--native", "--pid", std::to_string(plain.pid())});
        CHECK(native.exit_code == 2);
        CHECK(native.err.find("--tasks cannot be combined with --native") != std::string::npos);
    } else {
        skip_part("no pyenv CPython 3.12 on this machine");
    }
    for (const std::string label : {"2.7", "3.7"}) {
        auto old = find_pyenv_interpreter(label);
        if (!old) {
            skip_part("no pyenv CPython " + label + " on this machine");
            continue;
        }
        ChildProcess target({old->executable, source_path("tests/integration/python/split.py")});
        wait_until_started(target);
        std::this_thread::sleep_for(300ms);
        CommandResult result = run_sampler({"dump", "--tasks", "--pid", std::to_string(target.pid())});
        INFO(result.err);
        CHECK(result.exit_code == 6);
        CHECK(result.err.find(
                  "asyncio tasks can be read from CPython 3.8 to 3.13; this process runs CPython " + label) !=
              std::string::npos);
    }
    ChildProcess native({fixture_path("workload"), "split"});
    wait_until_started(native);
    CommandResult result = run_sampler({"dump", "--tasks", "--pid", std::to_string(native.pid())});
    CHECK(result.exit_code == 6);
    CHECK(result.err.find("is not a CPython process") != std::string::npos);
}

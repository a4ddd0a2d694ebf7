// dump --tasks output: the tree of who awaits whom (a task awaited twice, tasks that await each
// other in a cycle), the loop headers and notes, and the JSON.
#include "tasks_output.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace sampler;

namespace {

AsyncioTask task(std::uint64_t address, const std::string& name, TaskState state,
                 std::vector<TaskAwaiter> awaited_by = {}, std::vector<std::string> coroutines = {}) {
    AsyncioTask result;
    result.address = address;
    result.name = name;
    result.state = state;
    result.awaited_by = std::move(awaited_by);
    for (const std::string& coroutine : coroutines) {
        PythonFrame frame;
        frame.name = coroutine;
        frame.file = "app.py";
        frame.line = 7;
        result.coroutines.push_back(frame);
    }
    return result;
}

TasksDump dump_of(std::vector<AsyncioTask> tasks, int tid = 41) {
    LoopTasks entry;
    entry.loop.ref = {.loop = 0xabc, .interp = 1, .thread_ident = tid ? 0x7f00u : 0u, .tid = tid};
    entry.loop.tasks = std::move(tasks);
    entry.thread_name = "MainThread";
    entry.stopped = true;
    TasksDump dump;
    dump.pid = 41;
    dump.command_line = "python app.py";
    dump.python_version = "3.12.1";
    dump.loops.push_back(std::move(entry));
    return dump;
}

} // namespace

TEST_CASE("tasks: names sort with their numbers as numbers", "[tasks]") {
    CHECK(natural_less("Task-2", "Task-10"));
    CHECK_FALSE(natural_less("Task-10", "Task-2"));
    CHECK(natural_less("Task-9", "worker"));
    CHECK(natural_less("a1b", "a1c"));
    CHECK_FALSE(natural_less("same", "same"));
    CHECK(natural_less("Task-1", "Task-01") != natural_less("Task-01", "Task-1"));
}

TEST_CASE("tasks: a task awaited by two is drawn once, then named again", "[tasks]") {
    auto dump = dump_of({
        task(1, "Task-1", TaskState::pending, {}, {"main"}),
        task(2, "Task-10", TaskState::pending, {{1, AwaitVia::gather}}, {"fetch", "worker"}),
        task(3, "Task-2", TaskState::running, {{1, AwaitVia::gather}}),
        task(4, "shared", TaskState::pending, {{2, AwaitVia::task}, {3, AwaitVia::task}}, {"sleep"}),
    });
    dump.loops[0].loop.running_task = 3;
    CHECK(tasks_text(dump) == "Process 41: python app.py\n"
                              "Python 3.12.1\n"
                              "\n"
                              "Thread 41 (MainThread), event loop 0xabc: 4 tasks\n"
                              "Task-1 [pending]\n"
                              "│   main (app.py:7)\n"
                              "├── Task-2 [running] via gather\n"
                              "│   └── shared [pending] via await\n"
                              "│           sleep (app.py:7)\n"
                              "└── Task-10 [pending] via gather\n"
                              "    │   fetch (app.py:7)\n"
                              "    │   worker (app.py:7)\n"
                              "    └── shared [pending] via await (see above)\n");
}

TEST_CASE("tasks: tasks awaiting each other in a cycle are drawn from the first by name", "[tasks]") {
    auto dump = dump_of({task(7, "b", TaskState::pending, {{8, AwaitVia::task}}),
                         task(8, "a", TaskState::pending, {{7, AwaitVia::task_group}})},
                        0);
    dump.loops[0].loop.truncated = true;
    dump.loops[0].loop.errors = 3;
    dump.loops[0].loop.tasks[0].cancelled = true;
    dump.loops[0].loop.tasks[0].state = TaskState::done;
    dump.loops[0].loop.tasks[1].chain_truncated = true;
    CHECK(tasks_text(dump) == "Process 41: python app.py\n"
                              "Python 3.12.1\n"
                              "\n"
                              "Event loop 0xabc (not running): 2 tasks\n"
                              "(not every task could be read)\n"
                              "(3 objects could not be read)\n"
                              "a [pending]\n"
                              "│   ... (the chain is cut here: it could not be read further)\n"
                              "└── b [done, cancelled] via await\n"
                              "    └── a [pending] via taskgroup (see above)\n");
}

TEST_CASE("tasks: no loops, and why", "[tasks]") {
    TasksDump dump;
    dump.pid = 5;
    dump.command_line = "python x.py";
    dump.python_version = "3.9.18";
    dump.why_none = "asyncio is not imported";
    CHECK(tasks_text(dump) ==
          "Process 5: python x.py\nPython 3.9.18\n\nNo asyncio tasks: asyncio is not imported\n");
    auto json = nlohmann::json::parse(tasks_json(dump));
    CHECK(json["loops"].empty());
    CHECK(json["why_none"] == "asyncio is not imported");
}

TEST_CASE("tasks: JSON lists each task with its awaiters by id and name", "[tasks]") {
    auto dump =
        dump_of({task(1, "Task-1", TaskState::pending, {}, {"main"}),
                 task(2, "child", TaskState::done, {{1, AwaitVia::task_group}, {99, AwaitVia::task}})});
    auto json = nlohmann::json::parse(tasks_json(dump));
    REQUIRE(json["loops"].size() == 1);
    const auto& loop = json["loops"][0];
    CHECK(loop["loop"] == 0xabc);
    CHECK(loop["tid"] == 41);
    CHECK(loop["thread"] == "MainThread");
    CHECK(loop["running"] == true);
    CHECK(loop["stopped"] == true);
    CHECK(loop["running_task"].is_null());
    REQUIRE(loop["tasks"].size() == 2);
    const auto& child = loop["tasks"][1];
    CHECK(child["name"] == "child");
    CHECK(child["state"] == "done");
    CHECK(child["coroutines"].empty());
    // An awaiter that is not a task of the loop is left out.
    CHECK(child["awaited_by"] ==
          nlohmann::json::parse(R"([{"id": 1, "name": "Task-1", "via": "taskgroup"}])"));
    const auto& main = loop["tasks"][0];
    CHECK(main["coroutines"] == nlohmann::json::parse(R"([{"name": "main", "file": "app.py", "line": 7}])"));
    CHECK(main["python_task"] == false);
}

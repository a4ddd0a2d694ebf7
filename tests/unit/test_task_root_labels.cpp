// --tasks' root frames: their labels, where ProfileBuilder puts them among the other roots
// (process, then task, then thread), and how each output shows them.
#include "chrome_trace_writer.hpp"
#include "flamegraph_svg.hpp"
#include "folded_writer.hpp"
#include "pprof_writer.hpp"
#include "recorded_profile.hpp"
#include "speedscope_writer.hpp"
#include "task_roots.hpp"
#include "top_labels.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>

using namespace sampler;
using namespace sampler::testing;
using json = nlohmann::json;

namespace {

// A loop thread (7) that ran task Task-3 (client), then no task, and a worker thread (8) that
// runs no loop: its stack has no task root. Sampled as the engine would hand them over, with
// the task root outermost (what TaskRoots adds).
Profile rooted_profile(AggregationOptions options) {
    Profile profile;
    profile.info.pid = 7;
    profile.info.command_line = "./app";
    profile.info.requested_rate_hz = 100;
    profile.info.duration_seconds = 0.05;
    profile.processes[7].command_line = "./app"; // as if read from /proc
    RecordedProfile recorder(profile, options);
    const ThreadInfo loop = thread_info(7, 7, "MainThread");
    const ThreadInfo worker = thread_info(7, 8, "worker");
    recorder.sample(loop,
                    {python_frame("decode", "app.py", 12), python_frame("client", "app.py", 20),
                     task_root_frame("Task-3", "client")},
                    0);
    recorder.sample(loop, {python_frame("_run_once", "asyncio/base_events.py", 1900), no_task_root_frame()},
                    10);
    recorder.sample(worker, {python_frame("work", "app.py", 40)}, 20);
    return profile;
}

} // namespace

TEST_CASE("task roots: task NAME (COROUTINE), task NAME without one, loop (no task)", "[tasks]") {
    const Frame task = task_root_frame("Task-3", "client");
    CHECK(task.kind == FrameKind::task);
    CHECK(aggregate_label(task) == "task Task-3 (client)");
    CHECK(aggregate_label(task_root_frame("cruncher", "Worker.crunch")) == "task cruncher (Worker.crunch)");
    CHECK(aggregate_label(task_root_frame("<unreadable>", "")) == "task <unreadable>");
    CHECK(aggregate_label(no_task_root_frame()) == "loop (no task)");
    CHECK(no_task_root_frame().kind == FrameKind::task);
    // A file never shows in a root's label, as for threads and processes.
    Frame with_file = task;
    with_file.file = "app.py";
    with_file.line = 3;
    CHECK(aggregate_label(with_file) == "task Task-3 (client)");
    CHECK(is_root_label(FrameKind::task));
    CHECK_FALSE(is_root_label(FrameKind::python));
    CHECK(top_frame_labels(task).function == "task Task-3 (client)");
    CHECK(top_frame_labels(task).line == "task Task-3 (client)");
}

TEST_CASE("task roots come after the process root and before the thread root, other threads have none",
          "[tasks]") {
    SECTION("every root") {
        const Profile profile = rooted_profile({.thread_roots = true, .process_roots = true});
        CHECK(render_folded(profile) == "process 7 (./app);loop (no task);thread 7 (MainThread);_run_once "
                                        "(asyncio/base_events.py:1900) 1\n"
                                        "process 7 (./app);task Task-3 (client);thread 7 (MainThread);client "
                                        "(app.py:20);decode (app.py:12) 1\n"
                                        "process 7 (./app);thread 8 (worker);work (app.py:40) 1\n");
    }
    SECTION("tasks alone") {
        const Profile profile = rooted_profile({});
        CHECK(render_folded(profile) == "loop (no task);_run_once (asyncio/base_events.py:1900) 1\n"
                                        "task Task-3 (client);client (app.py:20);decode (app.py:12) 1\n"
                                        "work (app.py:40) 1\n");
    }
}

TEST_CASE("task roots show in every output by their label", "[tasks]") {
    const Profile profile =
        rooted_profile({.thread_roots = true, .process_roots = false, .record_timeline = true});

    const std::string svg = render_flamegraph_svg(profile);
    CHECK(svg.find("data-name=\"task Task-3 (client)\"") != std::string::npos);
    CHECK(svg.find("data-name=\"loop (no task)\"") != std::string::npos);

    // pprof: the label is the function's name (string table), with no file.
    const std::string pprof = encode_pprof(profile);
    CHECK(pprof.find("task Task-3 (client)") != std::string::npos);
    CHECK(pprof.find("loop (no task)") != std::string::npos);

    // speedscope: a frame named by the label, outermost in the loop thread's samples.
    const json speedscope = json::parse(render_speedscope(profile, "sampler@test"));
    std::set<std::string> outermost;
    for (const json& thread : speedscope["profiles"])
        for (const json& sample : thread["samples"])
            outermost.insert(speedscope["shared"]["frames"].at(sample[0].get<std::size_t>())["name"]);
    CHECK(outermost == std::set<std::string>{"task Task-3 (client)", "loop (no task)", "thread 8 (worker)"});
    for (const json& frame : speedscope["shared"]["frames"])
        if (frame["name"] == "task Task-3 (client)")
            CHECK_FALSE(frame.contains("file"));

    // Chrome trace: a slice of the `pseudo` category, like the thread roots.
    const json trace = json::parse(render_chrome_trace(profile, "sampler@test"));
    std::set<std::string> pseudo;
    for (const json& event : trace["traceEvents"])
        if (event.value("cat", "") == "pseudo")
            pseudo.insert(event["name"].get<std::string>());
    CHECK(pseudo == std::set<std::string>{"task Task-3 (client)", "loop (no task)", "thread 7 (MainThread)",
                                          "thread 8 (worker)"});
}

TEST_CASE("task roots: a stack read across a task switch is matched to a task by its coroutine", "[tasks]") {
    auto python = [](std::string name) { return Frame{.kind = FrameKind::python, .name = std::move(name)}; };
    // 3.11 and later name frames by their qualified name, older ones by co_name.
    const std::vector<Frame> new_names{python("work"), python("Worker.crunch"), python("Handle._run")};
    const std::vector<Frame> old_names{python("work"), python("crunch"), python("_run")};
    CHECK(frames_run_coroutine(new_names, "Worker.crunch"));
    CHECK(frames_run_coroutine(old_names, "Worker.crunch"));
    CHECK(frames_run_coroutine(old_names, "crunch"));
    CHECK_FALSE(frames_run_coroutine(new_names, "nibble"));
    CHECK_FALSE(frames_run_coroutine(new_names, "")); // a coroutine that could not be read
    // A native frame of the same name is not the coroutine.
    const std::vector<Frame> native{Frame{.kind = FrameKind::native, .name = "crunch"}};
    CHECK_FALSE(frames_run_coroutine(native, "crunch"));
}

// asyncio stall detection on made-up observations: where a loop thread is from its frames, how
// callback runs are told apart and timed, how stalls are told, and how a live view counts them.

#include "live_stalls.hpp"
#include "loop_phase.hpp"
#include "stall_detector.hpp"
#include "stall_text.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace sampler;

namespace {

Frame py(const std::string& name, const std::string& file, std::uint32_t line = 1) {
    Frame frame;
    frame.kind = FrameKind::python;
    frame.name = name;
    frame.file = file;
    frame.line = line;
    return frame;
}

Frame native(const std::string& name) {
    Frame frame;
    frame.kind = FrameKind::native;
    frame.name = name;
    frame.module = "libpython3.12.so";
    return frame;
}

// The outer part every loop stack shares, innermost first.
std::vector<Frame> loop_base() {
    return {py("BaseEventLoop._run_once", "asyncio/base_events.py", 1922),
            py("BaseEventLoop.run_forever", "asyncio/base_events.py", 608),
            py("BaseEventLoop.run_until_complete", "asyncio/base_events.py", 641),
            py("Runner.run", "asyncio/runners.py", 118),
            py("run", "asyncio/runners.py", 194),
            py("<module>", "app.py", 80)};
}

std::vector<Frame> stack(std::vector<Frame> inner) {
    for (const Frame& frame : loop_base())
        inner.push_back(frame);
    return inner;
}

std::vector<Frame> in_callback(std::vector<Frame> inner) {
    inner.push_back(py("Handle._run", "asyncio/events.py", 84));
    return stack(std::move(inner));
}

constexpr std::uint64_t ms = 1'000'000;

LoopObservation seen(std::uint64_t time_ms, LoopPhase phase, std::optional<std::uint64_t> callbacks,
                     std::optional<std::string> task = std::nullopt, std::vector<Frame> frames = {}) {
    LoopObservation observation;
    observation.pid = 10;
    observation.tid = 11;
    observation.thread_name = "MainThread";
    observation.time_ns = time_ms * ms;
    observation.phase = phase;
    observation.callbacks_started = callbacks;
    observation.task = std::move(task);
    observation.callback_frames = std::move(frames);
    return observation;
}

} // namespace

TEST_CASE("loop position: select is waiting, Handle._run a callback, the rest the loop's own code",
          "[stalls]") {
    CHECK(loop_position(stack({py("EpollSelector.select", "selectors.py", 468)})).phase ==
          LoopPhase::waiting);
    CHECK(loop_position(stack({py("select", "/usr/lib/python3.11/selectors.py", 468)})).phase ==
          LoopPhase::waiting);
    CHECK(loop_position(stack({})).phase == LoopPhase::loop_code);
    CHECK(loop_position(stack({py("_SelectorEventLoop._process_events", "asyncio/selector_events.py")}))
              .phase == LoopPhase::loop_code);
    CHECK(loop_position({py("main", "app.py"), py("<module>", "app.py")}).phase == LoopPhase::not_a_loop);
    CHECK(loop_position({}).phase == LoopPhase::not_a_loop);
    // A file of the user's that happens to be called base_events.py is not asyncio's.
    CHECK(loop_position({py("_run_once", "mine/base_events.py")}).phase == LoopPhase::not_a_loop);

    // Before 3.11, co_name alone.
    LoopPosition old =
        loop_position({py("loads", "json/__init__.py"), py("handler", "app.py", 22),
                       py("_run", "asyncio/events.py", 81), py("_run_once", "asyncio/base_events.py")});
    CHECK(old.phase == LoopPhase::callback);
    REQUIRE(old.callback_frames.size() == 2);
    CHECK(old.callback_frames.back().name == "handler");
}

TEST_CASE("loop position: a callback's frames end at the coroutine, the Task's own step frames left out",
          "[stalls]") {
    // The pure-Python Task (3.12: __step, then __step_run_and_handle_result), with --native frames.
    LoopPosition position = loop_position(in_callback({
        py("JSONDecoder.raw_decode", "json/decoder.py", 353),
        native("_PyEval_EvalFrameDefault"),
        py("client", "app.py", 22),
        py("Task.__step_run_and_handle_result", "asyncio/tasks.py", 303),
        py("Task.__step", "asyncio/tasks.py", 259),
        native("context_run"),
    }));
    REQUIRE(position.phase == LoopPhase::callback);
    REQUIRE(position.callback_frames.size() == 3);
    CHECK(position.callback_frames[0].name == "JSONDecoder.raw_decode");
    CHECK(position.callback_frames[1].kind == FrameKind::native);
    CHECK(position.callback_frames[2].name == "client");
}

TEST_CASE("stalls: one long callback run is one stall, timed from the gaps around it", "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    const std::vector<Frame> work{py("burn", "app.py", 16), py("decoder", "app.py", 40)};
    CHECK_FALSE(detector.observe(seen(0, LoopPhase::waiting, 5)).in_run);
    // (The thread was seen waiting first: the run began while watched.)
    for (std::uint64_t t = 10; t <= 200; t += 10) {
        auto outcome = detector.observe(seen(
            t, LoopPhase::callback, 6, t == 10 ? std::optional<std::string>("Task-2") : std::nullopt, work));
        CHECK(outcome.in_run);
        CHECK_FALSE(outcome.ended_run);
    }
    auto outcome = detector.observe(seen(210, LoopPhase::waiting, 6));
    CHECK(outcome.ended_run);
    REQUIRE(outcome.ended_stall);
    const Stall& stall = *outcome.ended_stall;
    // Observed 10..200 ms; it began in (0, 10] and ended in [200, 210): 190 + 5 + 5.
    CHECK(stall.duration_ns == 200 * ms);
    CHECK(stall.start_ns == 5 * ms);
    CHECK(stall.task == "Task-2");
    CHECK(stall.coroutine.name == "decoder");
    CHECK(stall.observations == 20);
    CHECK(stall.hottest_stack.size() == 2);
    CHECK_FALSE(stall.ongoing);
    CHECK_FALSE(stall.began_before);
}

TEST_CASE("stalls: a run first seen off CPU began within a period of the last sample on CPU", "[stalls]") {
    // A callback that sleeps (time.sleep in a coroutine) on a busy loop: the engine sampled the
    // thread on CPU at 0 ms, in the callback before; it went off CPU in the sleeping one before
    // the engine's next sample (about a period later), and our look after the missing sample
    // found it there at 20 ms. Looks every 10 ms to 150, then the engine's sample at 160.
    auto sleeping_run = [](bool sampled_on_cpu) {
        StallDetector detector(100 * ms, 10 * ms);
        LoopObservation before = seen(0, LoopPhase::callback, 5, "chatter", {py("chatter", "app.py", 30)});
        before.on_cpu_clock = sampled_on_cpu;
        detector.observe(before);
        for (std::uint64_t t = 20; t <= 150; t += 10)
            CHECK(
                detector.observe(seen(t, LoopPhase::callback, 6, std::nullopt, {py("sleeper", "app.py", 63)}))
                    .in_run);
        LoopObservation after = seen(160, LoopPhase::callback, 7, "chatter", {py("chatter", "app.py", 30)});
        after.on_cpu_clock = sampled_on_cpu;
        return detector.observe(after).ended_stall;
    };
    const std::optional<Stall> stall = sleeping_run(true);
    REQUIRE(stall);
    // Began within (0, 10]: at 5 ms, not in the middle of the whole gap (10 ms); ended in
    // (150, 160): at 155.
    CHECK(stall->start_ns == 5 * ms);
    CHECK(stall->duration_ns == 150 * ms);
    // Not known to be on CPU at the look before (a read of ours), the whole gap is open.
    const std::optional<Stall> open_gap = sleeping_run(false);
    REQUIRE(open_gap);
    CHECK(open_gap->start_ns == 10 * ms);
    CHECK(open_gap->duration_ns == 145 * ms);
}

TEST_CASE("stalls: an engine's sample handed over after a later look of ours is no earlier end", "[stalls]") {
    // The perf engine's samples reach the watch a drain late, with the kernel's time: one can
    // come after a look of ours taken later.
    StallDetector detector(100 * ms, 10 * ms);
    detector.observe(seen(0, LoopPhase::waiting, 5));
    detector.observe(seen(100, LoopPhase::callback, 6, "decoder"));
    LoopObservation stale = seen(95, LoopPhase::callback, 6, std::nullopt);
    stale.on_cpu_clock = true;
    CHECK(detector.observe(stale).in_run);
    // Timed from 100 on: not 95 - 100, wrapped around.
    CHECK(detector.open_stalls().empty());
    for (std::uint64_t t = 110; t <= 250; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 6));
    auto outcome = detector.observe(seen(260, LoopPhase::waiting, 6));
    REQUIRE(outcome.ended_stall);
    // From 100 - 15 (half the gap before it, capped at three periods) to 250 + 5.
    CHECK(outcome.ended_stall->duration_ns == 170 * ms);
}

TEST_CASE("stalls: gaps the looks leave are counted whole up to three periods, longer ones capped",
          "[stalls]") {
    // A run looked at every `step` ms from `step` to 150, the looks before and after it at 0 and `end`.
    auto timed = [](std::uint64_t step, std::uint64_t end) {
        StallDetector detector(100 * ms, 10 * ms);
        detector.observe(seen(0, LoopPhase::waiting, 5));
        for (std::uint64_t t = step; t <= 150; t += step)
            detector.observe(seen(t, LoopPhase::callback, 6, "sleeper"));
        auto outcome = detector.observe(seen(end, LoopPhase::waiting, 6));
        return outcome.ended_stall ? outcome.ended_stall->duration_ns : 0;
    };
    // Looks 25 ms apart (the ptrace engine's jittered rounds on a busy machine): a run in
    // (0, 25) .. (150, 175) is timed from the middle of each gap.
    CHECK(timed(25, 175) == 150 * ms);
    // We were descheduled for half a second before the look after it: the end is taken in the
    // first 30 ms of that gap, not in its middle.
    CHECK(timed(10, 650) == 160 * ms);
    // A run seen once is at most 2.5 periods before its look and 1.5 after: a threshold of four
    // periods reads its task on the first look, one of five on the second.
    CHECK(StallDetector(40 * ms, 10 * ms).wants_task(10, 11, 1));
    CHECK_FALSE(StallDetector(50 * ms, 10 * ms).wants_task(10, 11, 1));
}

TEST_CASE("stalls: short callbacks in a row never merge, however alike their stacks", "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    const std::vector<Frame> work{py("burn", "app.py", 16), py("chatter", "app.py", 30)};
    // 50 callbacks of the same task, back to back, each seen once: the count moves every time.
    for (std::uint64_t i = 0; i < 50; ++i) {
        auto outcome = detector.observe(seen(10 * i, LoopPhase::callback, 100 + i, "chatter", work));
        CHECK_FALSE(outcome.ended_stall);
        CHECK(outcome.ended_run == (i > 0));
    }
    CHECK(detector.finish(500 * ms).empty());
}

TEST_CASE(
    "stalls: a count read a moment after its frames, as the next callback began, is not that callback's",
    "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    const std::vector<Frame> chatter{py("burn", "app.py", 16), py("chatter", "app.py", 30)};
    const std::vector<Frame> decoder{py("burn", "app.py", 16), py("decoder", "app.py", 40)};
    detector.observe(seen(0, LoopPhase::waiting, 1));
    // chatter's frames, but the count of the decoder's run that began just after them.
    CHECK(detector.observe(seen(10, LoopPhase::callback, 2, "decoder", chatter)).in_run);
    auto outcome = detector.observe(seen(20, LoopPhase::callback, 2, std::nullopt, decoder));
    CHECK(outcome.ended_run); // the chatter observation is dropped, not kept as the decoder's
    CHECK_FALSE(outcome.ended_stall);
    CHECK(outcome.in_run);
    for (std::uint64_t t = 30; t <= 220; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 2, std::nullopt, decoder));
    auto end = detector.observe(seen(230, LoopPhase::waiting, 2));
    REQUIRE(end.ended_stall);
    CHECK(end.ended_stall->task == "decoder");
    CHECK(end.ended_stall->observations == 21);
    CHECK(end.ended_stall->duration_ns == 210 * ms);
    CHECK(end.ended_stall->coroutine.name == "decoder");
}

TEST_CASE("stalls: waiting in select is never a stall, nor a run under the threshold", "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    for (std::uint64_t t = 0; t < 2000; t += 10)
        CHECK_FALSE(detector.observe(seen(t, LoopPhase::waiting, 7)).ended_stall);
    for (std::uint64_t t = 2000; t <= 2080; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 8, "short"));
    auto outcome = detector.observe(seen(2090, LoopPhase::loop_code, 8));
    CHECK(outcome.ended_run);
    CHECK_FALSE(outcome.ended_stall); // 80 + 5 + 5 < 100
    // Frames without a count (uvloop, an unreadable queue) make no runs at all.
    for (std::uint64_t t = 3000; t < 4000; t += 10)
        CHECK_FALSE(detector.observe(seen(t, LoopPhase::callback, std::nullopt, "t")).in_run);
    CHECK(detector.finish(4000 * ms).empty());
}

TEST_CASE("stalls: a run still open when watching ends is told as ongoing", "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    for (std::uint64_t t = 0; t <= 300; t += 10)
        detector.observe(
            seen(t, LoopPhase::callback, 1, t == 10 ? std::optional<std::string>("Task-9") : std::nullopt));
    std::vector<Stall> stalls = detector.finish(305 * ms);
    REQUIRE(stalls.size() == 1);
    CHECK(stalls[0].ongoing);
    CHECK(stalls[0].began_before); // the thread's first look found it running already
    INFO(stall_line(stalls[0]));
    CHECK(stall_line(stalls[0]).starts_with("stall 308 ms (or more: began before) (still running)  Task-9"));
    CHECK(stalls[0].task == "Task-9");
    CHECK(stalls[0].duration_ns >= 300 * ms);
    CHECK(detector.finish(400 * ms).empty());
}

TEST_CASE("stalls: the hottest stack is the one seen most often in the run", "[stalls]") {
    StallDetector detector(50 * ms, 10 * ms);
    const std::vector<Frame> parse{py("raw_decode", "json/decoder.py"), py("handler", "app.py", 22)};
    const std::vector<Frame> log{py("emit", "logging/__init__.py"), py("handler", "app.py", 23)};
    for (std::uint64_t t = 0; t < 100; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 3, "Task-1", t < 30 ? log : parse));
    auto outcome = detector.observe(seen(100, LoopPhase::waiting, 3));
    REQUIRE(outcome.ended_stall);
    CHECK(outcome.ended_stall->hottest_stack == parse);
    CHECK(outcome.ended_stall->coroutine.line == 22);
}

TEST_CASE("stalls are told on one line, as a JSON line, and summed up", "[stalls]") {
    Stall stall;
    stall.pid = 10;
    stall.tid = 11;
    stall.thread_name = "MainThread";
    stall.duration_ns = 512 * ms;
    stall.task = "Task-2";
    stall.hottest_stack = {
        py("JSONDecoder.raw_decode", "json/decoder.py", 353),
        py("JSONDecoder.decode", "json/decoder.py", 337), py("loads", "json/__init__.py", 346),
        py("ClientResponse.json", "aiohttp/client_reqrep.py", 1100), py("client", "app.py", 22)};
    stall.coroutine = stall.hottest_stack.back();
    stall.observations = 51;
    CHECK(stall_line(stall) == "stall 512 ms  Task-2 client (app.py:22) > ClientResponse.json > loads > "
                               "JSONDecoder.decode > JSONDecoder.raw_decode");
    // Long stacks keep both ends.
    Stall deep = stall;
    for (int i = 0; i < 10; ++i)
        deep.hottest_stack.insert(deep.hottest_stack.begin() + 1, py("f" + std::to_string(i), "deep.py", 1));
    CHECK(stall_line(deep) == "stall 512 ms  Task-2 client (app.py:22) > ClientResponse.json > loads > ... > "
                              "f7 > f8 > f9 > JSONDecoder.raw_decode");

    auto json = nlohmann::json::parse(stall_json(stall, 1796200000.25));
    CHECK(json["duration_ms"] == 512.0);
    CHECK(json["task"] == "Task-2");
    CHECK(json["coroutine"]["name"] == "client");
    CHECK(json["coroutine"]["line"] == 22);
    CHECK(json["stack"].size() == 5);
    CHECK(json["start"] == 1796200000.25);
    CHECK(json["tid"] == 11);
    CHECK(json["began_before"] == false);

    Stall plain;
    plain.duration_ns = 150 * ms;
    plain.coroutine = py("on_timer", "app.py", 40);
    plain.hottest_stack = {plain.coroutine};
    CHECK(stall_line(plain) == "stall 150 ms  callback on_timer (app.py:40)");
    CHECK(nlohmann::json::parse(stall_json(plain, 0))["task"].is_null());

    StallSummary summary = summarize_stalls({stall, plain, plain});
    CHECK(summary.count == 3);
    CHECK(summary.max_ns == 512 * ms);
    CHECK(summary.p50_ns == 150 * ms);
    CHECK(summary.total_ns == 812 * ms);
    REQUIRE(summary.culprits.size() == 2);
    CHECK(summary.culprits[0].total_ns == 512 * ms);
    CHECK(summary.culprits[1].count == 2);
    const std::string text = stall_summary_text(summary, 100);
    CHECK(
        text.find("3 stalls of 100 ms or more, 812 ms blocked in all; p50 150 ms, p99 512 ms, max 512 ms") !=
        std::string::npos);
    CHECK(stall_summary_text(summarize_stalls({}), 100).find("no event-loop stall") != std::string::npos);
}

TEST_CASE("stalls: a run that is a stall already is seen while it lasts, and left open", "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    const std::vector<Frame> work{py("burn", "app.py", 16), py("decoder", "app.py", 40)};
    detector.observe(seen(0, LoopPhase::waiting, 5));
    for (std::uint64_t t = 10; t <= 90; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 6, "decoder", work));
    CHECK(detector.open_stalls().empty()); // 80 ms + 5: not yet a stall
    for (std::uint64_t t = 100; t <= 150; t += 10)
        detector.observe(seen(t, LoopPhase::callback, 6, std::nullopt, work));
    std::vector<Stall> open = detector.open_stalls();
    REQUIRE(open.size() == 1);
    // Timed to its last observation: 10..150 ms, and half the gap before it.
    CHECK(open[0].duration_ns == 145 * ms);
    CHECK(open[0].start_ns == 5 * ms);
    CHECK(open[0].ongoing);
    CHECK(open[0].task == "decoder");
    CHECK(open[0].coroutine.name == "decoder");
    CHECK(detector.open_stalls().size() == 1); // looking leaves it open
    // It goes on, and ends as one stall, told once.
    for (std::uint64_t t = 160; t <= 200; t += 10)
        CHECK_FALSE(detector.observe(seen(t, LoopPhase::callback, 6, std::nullopt, work)).ended_run);
    auto outcome = detector.observe(seen(210, LoopPhase::waiting, 6));
    REQUIRE(outcome.ended_stall);
    CHECK(outcome.ended_stall->duration_ns == 200 * ms);
    CHECK_FALSE(outcome.ended_stall->ongoing);
    CHECK(detector.open_stalls().empty());
}

namespace {

Stall stall_at(int tid, std::uint64_t start_ms, std::uint64_t duration_ms, std::string task = "decoder") {
    Stall stall;
    stall.pid = 10;
    stall.tid = tid;
    stall.start_ns = start_ms * ms;
    stall.duration_ns = duration_ms * ms;
    stall.task = std::move(task);
    stall.coroutine = py(stall.task, "app.py", 40);
    stall.hottest_stack = {py("burn", "app.py", 16), stall.coroutine};
    return stall;
}

} // namespace

TEST_CASE("live stalls: a window counts the stalls that ended in it and the one still running", "[stalls]") {
    LiveStalls live;
    // Window [1000, 2000) ms: one stall ended inside it, one began before it.
    live.add(stall_at(11, 1200, 200));
    live.add(stall_at(11, 900, 150, "sleeper"));
    StallWindowCounts counts = live.end_window(1000 * ms, 2000 * ms, {});
    CHECK(counts.count == 2);
    CHECK(counts.longest_ns == 200 * ms);
    // 200 ms, and the 50 ms of the other inside the window, of 1000 ms.
    CHECK(counts.blocked_share == Approx(0.25));

    // Window [2000, 3000): nothing ended; one runs since 2700 ms, 250 ms so far.
    counts = live.end_window(2000 * ms, 3000 * ms, {stall_at(11, 2700, 250)});
    CHECK(counts.count == 1);
    CHECK(counts.longest_ns == 250 * ms);
    CHECK(counts.blocked_share == Approx(0.25));
    // Window [3000, 4000): it ended at 3400 ms; only its part in this window counts here.
    live.add(stall_at(11, 2700, 700));
    counts = live.end_window(3000 * ms, 4000 * ms, {});
    CHECK(counts.count == 1);
    CHECK(counts.longest_ns == 700 * ms);
    CHECK(counts.blocked_share == Approx(0.4));

    // A window with none.
    counts = live.end_window(4000 * ms, 5000 * ms, {});
    CHECK(counts.count == 0);
    CHECK(counts.longest_ns == 0);
    CHECK(counts.blocked_share == 0);

    // Two loop threads: the share is the most blocked one's, never their sum.
    live.add(stall_at(11, 5100, 300));
    live.add(stall_at(12, 5000, 600));
    live.add(stall_at(12, 5700, 200));
    counts = live.end_window(5000 * ms, 6000 * ms, {});
    CHECK(counts.count == 3);
    CHECK(counts.blocked_share == Approx(0.8));
    // A stall told late, whose estimated span lies before the window, adds no blocked time.
    live.add(stall_at(11, 5500, 300));
    counts = live.end_window(6000 * ms, 7000 * ms, {});
    CHECK(counts.count == 1);
    CHECK(counts.blocked_share == 0);
}

TEST_CASE("live stalls: culprits are summed since the start, the running stall included, until reset",
          "[stalls]") {
    LiveStalls live;
    live.add(stall_at(11, 0, 200));
    live.add(stall_at(11, 1000, 210));
    live.add(stall_at(11, 2000, 150, "sleeper"));
    live.end_window(0, 3000 * ms, {});
    std::vector<StallSummary::Culprit> culprits = live.culprits({stall_at(11, 3000, 500, "sleeper")});
    REQUIRE(culprits.size() == 2);
    CHECK(culprits[0].label == "sleeper sleeper (app.py:40) > burn (app.py:16)");
    CHECK(culprits[0].count == 2);
    CHECK(culprits[0].total_ns == 650 * ms);
    CHECK(culprits[0].max_ns == 500 * ms);
    CHECK(culprits[1].label == "decoder decoder (app.py:40) > burn (app.py:16)");
    CHECK(culprits[1].count == 2);
    CHECK(culprits[1].total_ns == 410 * ms);
    CHECK(culprits[1].max_ns == 210 * ms);
    // The running stall was not kept: it is added when it ends.
    CHECK(live.culprits({}).front().label == culprits[1].label);
    live.reset();
    CHECK(live.culprits({}).empty());
}

TEST_CASE("stalls: a culprit tally keeps a bounded number of rows", "[stalls]") {
    // Names an application gives per request.
    CulpritTally tally(2);
    tally.add(stall_at(11, 0, 100, "request-1"));
    tally.add(stall_at(11, 0, 100, "request-2"));
    tally.add(stall_at(11, 0, 300, "request-3"));
    tally.add(stall_at(11, 0, 100, "request-4"));
    tally.add(stall_at(11, 0, 100, "request-1"));
    std::vector<StallSummary::Culprit> culprits = tally.ranked();
    REQUIRE(culprits.size() == 3);
    CHECK(culprits[0].label == CulpritTally::others_label);
    CHECK(culprits[0].count == 2);
    CHECK(culprits[0].total_ns == 400 * ms);
    CHECK(culprits[0].max_ns == 300 * ms);
    CHECK(culprits[1].label.starts_with("request-1 "));
    CHECK(culprits[1].count == 2);
}

TEST_CASE("stalls summed up: the tasks asyncio numbers, one per request of a server, are one culprit",
          "[stalls]") {
    // aiohttp runs each request in a task of its own, "Task-N", whose coroutine is its own.
    auto request = [](const std::string& task, std::vector<Frame> inner) {
        Stall stall;
        stall.duration_ns = 200 * ms;
        stall.task = task;
        stall.coroutine = py("RequestHandler._handle_request", "aiohttp/web_protocol.py", 440);
        stall.hottest_stack = std::move(inner);
        stall.hottest_stack.push_back(py("Application._handle", "aiohttp/web_app.py", 504));
        stall.hottest_stack.push_back(stall.coroutine);
        return stall;
    };
    const std::vector<Frame> decode{py("JSONDecoder.raw_decode", "json/decoder.py", 353),
                                    py("decode", "app.py", 18)};
    const std::vector<Frame> sleep{py("sleep", "app.py", 25)};
    const StallSummary summary = summarize_stalls({request("Task-202", decode), request("Task-314", decode),
                                                   request("Task-535", sleep), request("Task-9", decode),
                                                   request("decoder", decode), request("Task-x", decode)});
    REQUIRE(summary.culprits.size() == 4);
    CHECK(summary.culprits[0].label ==
          "Task-* RequestHandler._handle_request (aiohttp/web_protocol.py:440) > "
          "JSONDecoder.raw_decode (json/decoder.py:353)");
    CHECK(summary.culprits[0].count == 3);
    CHECK(summary.culprits[0].total_ns == 600 * ms);
    // A name given, or one only like asyncio's, stays as it is; another frame is another culprit.
    std::vector<std::string> others;
    for (std::size_t i = 1; i < summary.culprits.size(); ++i)
        others.push_back(summary.culprits[i].label);
    std::ranges::sort(others);
    CHECK(others ==
          std::vector<std::string>{
              "Task-* RequestHandler._handle_request (aiohttp/web_protocol.py:440) > sleep (app.py:25)",
              "Task-x RequestHandler._handle_request (aiohttp/web_protocol.py:440) > "
              "JSONDecoder.raw_decode (json/decoder.py:353)",
              "decoder RequestHandler._handle_request (aiohttp/web_protocol.py:440) > "
              "JSONDecoder.raw_decode (json/decoder.py:353)"});
    // Each stall's own line still names its task.
    CHECK(stall_line(request("Task-202", sleep)).find("  Task-202 RequestHandler._handle_request (") !=
          std::string::npos);
}

TEST_CASE("stalls: a run's task is read once, on its second look, or on its first when that can be a stall",
          "[stalls]") {
    StallDetector detector(100 * ms, 10 * ms);
    CHECK_FALSE(detector.wants_task(10, 11, 1)); // a first look: most runs end before a second
    detector.observe(seen(0, LoopPhase::callback, 1));
    CHECK(detector.wants_task(10, 11, 1));       // the same run, seen again
    CHECK_FALSE(detector.wants_task(10, 11, 2)); // another run's first look
    detector.observe(seen(10, LoopPhase::callback, 1, "Task-4"));
    CHECK_FALSE(detector.wants_task(10, 11, 1)); // read already
    // A plain callback: read, and none ran; not read again either.
    detector.observe(seen(20, LoopPhase::callback, 2));
    detector.observe(seen(30, LoopPhase::callback, 2, ""));
    CHECK_FALSE(detector.wants_task(10, 11, 2));
    // A threshold of two periods (of up to four: see the test of gaps): a run seen once can be
    // a stall, so its first look reads it.
    StallDetector short_threshold(20 * ms, 10 * ms);
    CHECK(short_threshold.wants_task(10, 11, 1));
}

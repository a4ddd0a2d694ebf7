// Thread and frame walking on synthetic interpreter images of each layout: names, lines, entry
// markers, hidden frames, GIL, thread ids, and corrupt chains (loops, depth, unreadable parts).

#include "synthetic_frames.hpp"
#include "synthetic_python.hpp"

#include "page_cached_memory.hpp"

#include <catch2/catch.hpp>
#include <functional>

using namespace sampler;
using namespace sampler::python;
using namespace sampler::testing;

namespace {

struct FrameView {
    std::string name;
    std::uint32_t line;
    bool is_entry;
    bool operator==(const FrameView&) const = default;
};

std::vector<FrameView> view(const PythonThread& thread) {
    std::vector<FrameView> frames;
    for (const PythonFrame& f : thread.frames)
        frames.push_back({f.name, f.line, f.is_entry});
    return frames;
}

} // namespace

TEST_CASE("threads, frames, lines and GIL of every layout", "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        bool qualnames = layout->code.qualname != absent;
        std::uint64_t module = py.code("<module>", "/app/main.py", 1, table);
        std::uint64_t method = py.code("run", "/app/main.py", 20, table, "Job.run");
        std::uint64_t leaf = py.code(std::string("leaf"), "/app/\xc3\xa9t\xc3\xa9.py", 40, table);
        // Each frame is its own eval call here (3.11: is_entry set; 3.12+: a shim under each).
        auto entry_frame = [&](std::uint64_t code, std::uint64_t back, int offset) {
            if (layout->interp_frame.owner_cstack != absent)
                back = py.interpreter_frame(module, back, 0, layout->interp_frame.owner_cstack);
            return push_frame(py, code, back, offset, true);
        };
        std::uint64_t f1 = entry_frame(module, 0, 9);
        std::uint64_t f2 = entry_frame(method, f1, 4);
        std::uint64_t f3 = entry_frame(leaf, f2, 0);
        std::uint64_t main_thread = py.thread_state(f3, 100);
        std::uint64_t worker = py.thread_state(push_frame(py, leaf, 0, 5, true), 101);
        py.set_gil_holder(worker);

        PythonReader reader = py.reader();
        std::uint64_t errors = 0;
        auto threads = reader.read_threads(py.memory(), &errors);
        CHECK(errors == 0);
        REQUIRE(threads.size() == 2);
        CHECK(threads[0].tid == 101); // newest first
        CHECK(threads[0].holds_gil);
        CHECK(threads[0].thread_state == worker);
        CHECK(view(threads[0]) == std::vector<FrameView>{{"leaf", 41, true}});
        CHECK(threads[1].tid == 100);
        CHECK_FALSE(threads[1].holds_gil);
        CHECK(threads[1].thread_state == main_thread);
        CHECK(view(threads[1]) == std::vector<FrameView>{{"leaf", 40, true},
                                                         {qualnames ? "Job.run" : "run", 21, true},
                                                         {"<module>", 3, true}});
        CHECK(threads[1].frames[0].file == "/app/\xc3\xa9t\xc3\xa9.py");
        CHECK(threads[1].frames[1].first_line == 20);
        CHECK(reader.gil_holder_tid(py.memory()) == 101);

        auto one = reader.read_thread(py.memory(), 100);
        REQUIRE(one);
        CHECK(view(*one) == view(threads[1]));
        CHECK_FALSE(reader.read_thread(py.memory(), 999));

        py.set_gil_holder(0);
        CHECK(reader.gil_holder_tid(py.memory()) == 0);
    }
}

TEST_CASE("3.11: Python-to-Python calls are not entries, hidden entry frames pass the mark on",
          "[python][walk]") {
    SyntheticPython py(layout_3_11());
    auto table = three_line_table(py.layout());
    std::uint64_t a = py.code("a", "f.py", 1, table), b = py.code("b", "f.py", 1, table),
                  c = py.code("c", "f.py", 1, table);
    std::uint64_t outer = py.interpreter_frame(a, 0, 0, 0, true);
    std::uint64_t middle = py.interpreter_frame(b, outer, 4, 0, false);
    // A frame still in its prologue (not started: byte offset -2) that began a new eval call.
    std::uint64_t hidden_entry = py.interpreter_frame(c, middle, -2, 0, true);
    std::uint64_t inner = py.interpreter_frame(a, hidden_entry, 8, 0, false);
    py.thread_state(inner, 7);
    auto threads = py.reader().read_threads(py.memory());
    REQUIRE(threads.size() == 1);
    CHECK(view(threads[0]) == std::vector<FrameView>{{"a", 3, true}, {"b", 2, false}, {"a", 1, true}});
}

TEST_CASE("3.12/3.13: shims split eval calls and are not reported", "[python][walk]") {
    for (const PythonLayout* layout : {&layout_3_12(), &layout_3_13()}) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t a = py.code("a", "f.py", 1, table), b = py.code("b", "f.py", 1, table);
        std::uint64_t shim_code = py.code("<interpreter trampoline>", "<shim>", 0, {});
        std::uint64_t bottom_shim = py.interpreter_frame(shim_code, 0, 0, 3);
        std::uint64_t outer = py.interpreter_frame(a, bottom_shim, 0);
        std::uint64_t middle = py.interpreter_frame(b, outer, 4);
        std::uint64_t shim = py.interpreter_frame(shim_code, middle, 0, 3);
        std::uint64_t generator_frame =
            py.interpreter_frame(a, shim, 8, layout->interp_frame.owner_generator);
        py.thread_state(generator_frame, 7);
        auto threads = py.reader().read_threads(py.memory());
        REQUIRE(threads.size() == 1);
        CHECK(view(threads[0]) == std::vector<FrameView>{{"a", 3, true}, {"b", 2, false}, {"a", 1, true}});
    }
}

TEST_CASE("corrupt frame chains end the walk with a mark, never a hang", "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t code = py.code("f", "f.py", 1, table);

        SECTION("a loop") {
            std::uint64_t first = push_frame(py, code, 0, 0, true);
            std::uint64_t second = push_frame(py, code, first, 0, true);
            // Point the first frame's link back at the second.
            py.memory().put(caller_link_at(*layout, first), second);
            py.thread_state(second, 1);
            std::uint64_t errors = 0;
            auto threads = py.reader().read_threads(py.memory(), &errors);
            REQUIRE(threads.size() == 1);
            CHECK(threads[0].frames.size() == 2);
            CHECK(threads[0].truncated);
            CHECK_FALSE(threads[0].depth_limit); // a corrupt chain, not a deep one
            CHECK(errors == 1);
        }
        SECTION("a loop back to a frame 40 deep, past the first few kept in a plain array") {
            std::uint64_t bottom = push_frame(py, code, 0, 0, true);
            std::uint64_t frame = bottom;
            for (int i = 1; i < 40; ++i)
                frame = push_frame(py, code, frame, 0, true);
            // The bottom frame links back up to the top one: 40 frames, then the loop.
            py.memory().put(caller_link_at(*layout, bottom), frame);
            py.thread_state(frame, 1);
            std::uint64_t errors = 0;
            auto threads = py.reader().read_threads(py.memory(), &errors);
            REQUIRE(threads.size() == 1);
            CHECK(threads[0].frames.size() == 40);
            CHECK(threads[0].truncated);
            CHECK_FALSE(threads[0].depth_limit);
            CHECK(errors == 1);
        }
        SECTION("a chain deeper than the limit") {
            std::uint64_t frame = 0;
            for (int i = 0; i < 5000; ++i)
                frame = push_frame(py, code, frame, 0, true);
            py.thread_state(frame, 1);
            auto threads = py.reader().read_threads(py.memory());
            REQUIRE(threads.size() == 1);
            CHECK(threads[0].frames.size() == PythonReader::max_depth);
            CHECK(threads[0].truncated);
            CHECK(threads[0].depth_limit);
        }
        SECTION("an unreadable code object is a marked frame; an unreadable frame ends the walk") {
            std::uint64_t bottom = push_frame(py, code, 0xdead0000, 0, true);
            std::uint64_t bad_code = push_frame(py, 0x7000, bottom, 0, true);
            std::uint64_t top = push_frame(py, code, bad_code, 4, true);
            py.thread_state(top, 1);
            std::uint64_t errors = 0;
            auto threads = py.reader().read_threads(py.memory(), &errors);
            REQUIRE(threads.size() == 1);
            auto& frames = threads[0].frames;
            REQUIRE(frames.size() == 4);
            CHECK(frames[0].valid);
            CHECK(frames[1].name == "<unreadable>");
            CHECK_FALSE(frames[1].valid);
            CHECK(frames[2].valid);
            CHECK_FALSE(frames[3].valid);
            CHECK(threads[0].truncated);
            CHECK(errors == 2);
        }
        SECTION("a thread state of another interpreter ends the thread list") {
            std::uint64_t state = py.thread_state(push_frame(py, code, 0, 0, true), 1);
            py.memory().put(state + static_cast<std::uint64_t>(layout->tstate.interp), std::uint64_t{0x5000});
            std::uint64_t errors = 0;
            CHECK(py.reader().read_threads(py.memory(), &errors).empty());
            CHECK(errors == 1);
        }
    }
}

TEST_CASE("code objects are decoded once, and again when their address is reused", "[python][walk]") {
    for (const PythonLayout* layout : {&layout_3_9(), &layout_3_12()}) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t code = py.code("before", "f.py", 1, table);
        std::uint64_t frame = code;
        for (int i = 0; i < 50; ++i)
            frame = push_frame(py, code, i == 0 ? 0 : frame, 0, true);
        py.thread_state(frame, 1);
        PythonReader reader = py.reader();
        std::size_t start = py.memory().reads();
        reader.read_threads(py.memory());
        std::size_t first_pass = py.memory().reads() - start;
        start = py.memory().reads();
        auto threads = reader.read_threads(py.memory());
        std::size_t second_pass = py.memory().reads() - start;
        CHECK(second_pass < first_pass);
        CHECK(second_pass <= 2 * 50 + 10); // a frame read and a code identity read per frame
        REQUIRE(threads[0].frames.size() == 50);
        CHECK(threads[0].frames[0].name == "before");
        // The code object is replaced by another at the same address.
        py.memory().put(code + static_cast<std::uint64_t>(layout->code.name), py.str(std::string("after")));
        if (layout->code.qualname != absent)
            py.memory().put(code + static_cast<std::uint64_t>(layout->code.qualname),
                            py.str(std::string("after")));
        threads = reader.read_threads(py.memory());
        CHECK(threads[0].frames[0].name == "after");
    }
}

TEST_CASE("lines found once per offset are found again from the memo, each offset its own",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        std::uint64_t code = py.code("loop", "f.py", 10, three_line_table(*layout));
        // Three threads in the same code object, each at an offset of another line.
        py.thread_state(push_frame(py, code, 0, 0, true), 1);
        py.thread_state(push_frame(py, code, 0, 4, true), 2);
        py.thread_state(push_frame(py, code, 0, 8, true), 3);
        PythonReader reader = py.reader();
        for (int pass = 0; pass < 3; ++pass) {
            INFO("pass " << pass);
            auto threads = reader.read_threads(py.memory());
            REQUIRE(threads.size() == 3);
            std::vector<std::uint32_t> lines;
            for (const PythonThread& thread : threads) {
                REQUIRE(thread.frames.size() == 1);
                lines.push_back(thread.frames[0].line);
            }
            CHECK(lines == std::vector<std::uint32_t>{12, 11, 10}); // newest thread first
        }
    }
}

TEST_CASE("3.11+: a running thread's chain that ends at a generator's frame (read while it was suspended, "
          "its caller link cleared) is torn, not a stack",
          "[python][walk]") {
    for (const PythonLayout* layout : {&layout_3_11(), &layout_3_12(), &layout_3_13()}) {
        INFO("layout " << layout->name());
        const InterpreterFrameLayout& f = layout->interp_frame;
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t module = py.code("<module>", "f.py", 1, table);
        std::uint64_t encode = py.code("encode", "f.py", 10, table);
        std::uint64_t items = py.code("items", "f.py", 20, table);
        // <module> calls encode, which resumes the generator `items` (3.12+: through a shim).
        const bool shims = f.owner_cstack != absent;
        std::uint64_t bottom = py.interpreter_frame(module, 0, 4, 0, true);
        if (shims)
            bottom = py.interpreter_frame(module, py.interpreter_frame(module, 0, 0, f.owner_cstack), 4);
        std::uint64_t caller = py.interpreter_frame(encode, bottom, 4, 0, !shims);
        std::uint64_t below_generator =
            shims ? py.interpreter_frame(module, caller, 0, f.owner_cstack) : caller;
        std::uint64_t generator = py.interpreter_frame(items, below_generator, 8, f.owner_generator, !shims);
        py.thread_state(generator, 7);
        PythonReader reader = py.reader();

        auto running = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(running.thread);
        CHECK(running.consistent);
        CHECK_FALSE(running.thread->ends_at_suspended_generator);
        CHECK(running.thread->frames.size() == 3);

        // It yields: its link to its caller is cleared while the read takes its frames (the
        // top, read again after it resumed, is the same frame with the same code).
        py.memory().put(caller_link_at(*layout, generator), std::uint64_t{0});
        py.set_generator_running(generator, false);
        auto raced = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(raced.thread);
        CHECK(raced.thread->ends_at_suspended_generator);
        CHECK(raced.thread->frames.size() == 1);
        CHECK_FALSE(raced.consistent);
    }
}

TEST_CASE("<= 3.10: a running thread's chain that ends at a generator's frame object (its f_back cleared "
          "as it yielded) is torn, not a stack",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        if (layout->frames != FrameModel::frame_object)
            continue;
        INFO("layout " << layout->name());
        REQUIRE(layout->code.flags != absent);
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t module = py.code("<module>", "f.py", 1, table);
        std::uint64_t encode = py.code("encode", "f.py", 10, table);
        std::uint64_t items = py.code("items", "f.py", 20, table);
        py.memory().put(items + static_cast<std::uint64_t>(layout->code.flags), std::int32_t{0x20 | 0x3});
        std::uint64_t generator =
            push_frame(py, items, push_frame(py, encode, push_frame(py, module, 0, 4), 4), 8);
        py.thread_state(generator, 7);
        PythonReader reader = py.reader();

        auto running = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(running.thread);
        CHECK_FALSE(running.thread->ends_at_suspended_generator);
        CHECK(running.thread->frames.size() == 3);

        py.memory().put(caller_link_at(*layout, generator), std::uint64_t{0});
        py.set_generator_running(generator, false);
        auto raced = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(raced.thread);
        CHECK(raced.thread->ends_at_suspended_generator);
        CHECK_FALSE(raced.consistent);
        // A plain function at the bottom is a stack's natural end.
        py.memory().put(items + static_cast<std::uint64_t>(layout->code.flags), std::int32_t{0x3});
        PythonReader fresh = py.reader();
        CHECK_FALSE(
            fresh.read_running_thread(py.memory(), py.memory(), 7, 100).thread->ends_at_suspended_generator);
    }
}

TEST_CASE("<= 3.11: a generator that C drives from a thread's start has no caller yet runs: its stack is "
          "whole",
          "[python][walk]") {
    // _thread.start_new_thread(collections.deque, (generator, 0)): no Python frame under the
    // generator's. 3.12+ puts a shim frame under it.
    for (const PythonLayout* layout : all_layouts) {
        const bool states = layout->frames == FrameModel::frame_object ||
                            layout->interp_frame.generator_frame_state != absent;
        if (!states)
            continue;
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t producer = py.code("producer", "f.py", 20, table);
        std::uint64_t busy = py.code("busy", "f.py", 10, table);
        if (layout->code.flags != absent)
            py.memory().put(producer + static_cast<std::uint64_t>(layout->code.flags),
                            std::int32_t{0x20 | 0x3});
        std::uint64_t generator =
            layout->frames == FrameModel::frame_object
                ? push_frame(py, producer, 0, 8)
                : py.interpreter_frame(producer, 0, 8, layout->interp_frame.owner_generator, true);
        py.thread_state(push_frame(py, busy, generator, 4), 7);
        PythonReader reader = py.reader();

        auto read = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(read.thread);
        CHECK_FALSE(read.thread->ends_at_suspended_generator);
        CHECK(read.consistent);
        CHECK(read.thread->frames.size() == 2);
        // Its state unreadable or suspended: a read that raced its yield, as before.
        py.set_generator_running(generator, false);
        auto raced = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(raced.thread);
        CHECK(raced.thread->ends_at_suspended_generator);
        CHECK_FALSE(raced.consistent);
    }
}

TEST_CASE("a running thread's read checks its cached code objects and the GIL in one read",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t outer = py.code("outer", "f.py", 1, table);
        std::uint64_t inner = py.code("inner", "f.py", 10, table);
        std::uint64_t frame = push_frame(py, outer, 0, 0, true);
        for (int i = 0; i < 20; ++i)
            frame = push_frame(py, inner, frame, 4, true);
        std::uint64_t state = py.thread_state(frame, 7);
        py.set_gil_holder(state);
        PythonReader reader = py.reader();

        auto first = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        REQUIRE(first.thread);
        CHECK(first.consistent);
        REQUIRE(first.thread->frames.size() == 21);
        CHECK(first.thread->frames.back().name == "outer");
        // Known code objects are not read during the walk: only frames and the final check.
        const std::size_t before = py.memory().reads();
        auto second = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        CHECK(second.consistent);
        CHECK(view(*second.thread) == view(*first.thread));
        const std::size_t reads = py.memory().reads() - before;
        INFO("reads " << reads);
        CHECK(reads < 21 + 2 * 21); // one per frame; no code identity read per frame
        {
            CHECK(second.gil_known);
            CHECK(second.holds_gil);
            py.set_gil_holder(0);
            auto released = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
            CHECK(released.gil_known);
            CHECK_FALSE(released.holds_gil);
        }

        // The outer code object is freed and another takes its address: the check notices, and
        // the read after it decodes the new object.
        py.memory().put(outer + static_cast<std::uint64_t>(layout->code.name), py.str(std::string("other")));
        if (layout->code.qualname != absent)
            py.memory().put(outer + static_cast<std::uint64_t>(layout->code.qualname),
                            py.str(std::string("other")));
        auto stale = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        CHECK_FALSE(stale.consistent);
        auto fresh = reader.read_running_thread(py.memory(), py.memory(), 7, 100);
        CHECK(fresh.consistent);
        REQUIRE(fresh.thread);
        CHECK(fresh.thread->frames.back().name == "other");
    }
}

namespace {

// `outer` calling `inner` five deep: the two code objects and the innermost frame.
struct FiveDeep {
    std::uint64_t outer = 0;
    std::uint64_t inner = 0;
    std::uint64_t top = 0;
};

FiveDeep push_five_deep(SyntheticPython& py, const PythonLayout& layout) {
    auto table = three_line_table(layout);
    FiveDeep stack;
    stack.outer = py.code("outer", "f.py", 1, table);
    stack.inner = py.code("inner", "f.py", 10, table);
    stack.top = push_frame(py, stack.outer, 0, 0, true);
    for (int i = 0; i < 5; ++i)
        stack.top = push_frame(py, stack.inner, stack.top, 4, true);
    return stack;
}

// The target as the checks read it: after its first scattered read (the first check) it runs
// on and calls another function in the innermost frame's place.
class RunsOnAfterFirstCheck final : public RemoteMemory {
  public:
    RunsOnAfterFirstCheck(FakeMemory& memory, std::function<void()> run_on)
        : memory_(memory), run_on_(std::move(run_on)) {}
    bool read(std::uint64_t address, void* out, std::size_t size) const override {
        return memory_.read(address, out, size);
    }
    std::size_t read_scattered(const Piece* pieces, std::size_t count) const override {
        const std::size_t read = memory_.read_scattered(pieces, count);
        if (scattered_++ == 0)
            run_on_();
        return read;
    }

  private:
    FakeMemory& memory_;
    std::function<void()> run_on_;
    mutable int scattered_ = 0;
};

} // namespace

TEST_CASE("a running thread's read holds when its top is unchanged right after the snapshot, whatever "
          "it runs during the walk",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto [outer, inner, frame] = push_five_deep(py, *layout);
        py.thread_state(frame, 7);
        PythonReader reader = py.reader();
        auto call_another = [&] { py.memory().put(code_at(*layout, frame), outer); };

        // A first read fills the snapshot with the pages the thread's walk uses.
        PageCachedMemory snapshot(py.memory());
        REQUIRE(reader.read_running_thread(snapshot, py.memory(), 7, 100).consistent);
        const std::vector<std::uint64_t> pages = snapshot.used_pages();

        // Served by the snapshot, the walk's frames are the stack at the first check's instant,
        // though the thread has moved on by the end of the walk.
        snapshot.forget();
        snapshot.prefetch(pages);
        RunsOnAfterFirstCheck moves_on(py.memory(), call_another);
        auto read = reader.read_running_thread(snapshot, moves_on, 7, 100);
        CHECK(read.consistent);
        REQUIRE(read.thread);
        CHECK(read.thread->frames.front().name == "inner");

        // The snapshot taken before the call, checked after it: torn.
        py.memory().put(code_at(*layout, frame), inner);
        snapshot.forget();
        snapshot.prefetch(pages);
        call_another();
        CHECK_FALSE(reader.read_running_thread(snapshot, py.memory(), 7, 100).consistent);

        // Memory that does not tell its fetches gets the check after the walk: the top moved on.
        py.memory().put(code_at(*layout, frame), inner);
        RunsOnAfterFirstCheck moves_on_again(py.memory(), call_another);
        CHECK_FALSE(reader.read_running_thread(py.memory(), moves_on_again, 7, 100).consistent);
    }
}

namespace {

// Counts the calls that read the target; optionally changes it, once, between a scattered
// read's whole pages and the words after them (the thread moving on within one call).
class CallCountingMemory final : public RemoteMemory {
  public:
    explicit CallCountingMemory(FakeMemory& memory) : memory_(memory) {}
    bool read(std::uint64_t address, void* out, std::size_t size) const override {
        ++calls;
        return memory_.read(address, out, size);
    }
    std::size_t read_scattered(const Piece* pieces, std::size_t count) const override {
        ++calls;
        std::size_t pages = 0;
        while (pages < count && pieces[pages].size == 4096)
            ++pages;
        std::size_t read = memory_.read_scattered(pieces, pages);
        if (read < pages)
            return read;
        if (between && pages < count) {
            between();
            between = nullptr;
        }
        return read + memory_.read_scattered(pieces + pages, count - pages);
    }
    mutable std::size_t calls = 0;
    mutable std::function<void()> between;

  private:
    FakeMemory& memory_;
};

} // namespace

TEST_CASE("a running thread's first check is read with its snapshot, in the same call, when its top "
          "is where the last read found it",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto [outer, inner, frame] = push_five_deep(py, *layout);
        std::uint64_t state = py.thread_state(frame, 7);
        py.set_gil_holder(state);
        PythonReader reader = py.reader();
        CallCountingMemory target(py.memory());
        PageCachedMemory snapshot(target);

        // Nothing planned before a first read.
        CHECK(reader.first_check_pieces(7).empty());
        REQUIRE(reader.read_running_thread(snapshot, target, 7, 100).consistent);
        const std::vector<std::uint64_t> pages = snapshot.used_pages();
        // As a sampler reads it: the pages and the check in one call.
        auto sample = [&] {
            snapshot.forget();
            const std::vector<RemoteMemory::Piece>& check = reader.first_check_pieces(7);
            const std::size_t read = snapshot.prefetch(pages, check.data(), check.size());
            CHECK(read == check.size());
            return reader.read_running_thread(snapshot, target, 7, 100, nullptr, read);
        };
        if (layout->tstate.frame == absent) {
            CHECK(reader.first_check_pieces(7).empty()); // nothing to check against
            continue;
        }
        // The first read decoded the code objects; the next one took them from the cache, and
        // from then on their identities are planned too.
        REQUIRE(sample().consistent);
        const std::size_t before = target.calls;
        auto planned = sample();
        CHECK(planned.consistent);
        CHECK(planned.gil_known);
        CHECK(planned.holds_gil);
        REQUIRE(planned.thread);
        CHECK(planned.thread->frames.size() == 6);
        // The snapshot with its check and the cached code objects' identities: one call (three
        // when the check and the identities are calls of their own).
        CHECK(target.calls - before == 1);

        // The thread calls another function in the innermost frame's place between the
        // snapshot's pages and the check's words: torn, and the next sample holds again.
        target.between = [&] { py.memory().put(code_at(*layout, frame), outer); };
        CHECK_FALSE(sample().consistent);
        auto after = sample();
        CHECK(after.consistent);
        REQUIRE(after.thread);
        CHECK(after.thread->frames.front().name == "outer");

        // Pieces planned but not read (the caller could not): the check reads the target itself.
        reader.first_check_pieces(7);
        snapshot.forget();
        const std::size_t unplanned_before = target.calls;
        snapshot.prefetch(pages);
        CHECK(reader.read_running_thread(snapshot, target, 7, 100, nullptr, 0).consistent);
        CHECK(target.calls - unplanned_before == 3);

        // The outer code object freed and another at its address, between two samples: the
        // identity read with the snapshot tells, and the next sample decodes the new object.
        py.memory().put(outer + static_cast<std::uint64_t>(layout->code.name), py.str(std::string("other")));
        if (layout->code.qualname != absent)
            py.memory().put(outer + static_cast<std::uint64_t>(layout->code.qualname),
                            py.str(std::string("other")));
        CHECK_FALSE(sample().consistent);
        auto renamed = sample();
        CHECK(renamed.consistent);
        REQUIRE(renamed.thread);
        CHECK(renamed.thread->frames.back().name == "other");
    }
}

TEST_CASE("a thread that moves between a few functions has all their code objects read with its "
          "snapshot",
          "[python][walk]") {
    for (const PythonLayout* layout : {&layout_3_10(), &layout_3_11(), &layout_3_12(), &layout_3_13()}) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto [outer, inner, frame] = push_five_deep(py, *layout);
        const std::uint64_t other = py.code("other", "g.py", 20, three_line_table(*layout));
        py.thread_state(frame, 7);
        PythonReader reader = py.reader();
        CallCountingMemory target(py.memory());
        PageCachedMemory snapshot(target);
        REQUIRE(reader.read_running_thread(snapshot, target, 7, 100).consistent);
        const std::vector<std::uint64_t> pages = snapshot.used_pages();
        // Each sample, the innermost frame runs the other of two functions (3.11+: its
        // instruction pointer, into the code object, moves with it).
        int samples = 0;
        auto sample = [&] {
            const std::uint64_t code = ++samples % 2 ? other : inner;
            py.memory().put(code_at(*layout, frame), code);
            if (layout->frames == FrameModel::interpreter_frame)
                py.memory().put(frame + static_cast<std::uint64_t>(layout->interp_frame.instr),
                                code + static_cast<std::uint64_t>(layout->code.code_adaptive) + 4);
            snapshot.forget();
            const std::vector<RemoteMemory::Piece>& check = reader.first_check_pieces(7);
            const std::size_t read = snapshot.prefetch(pages, check.data(), check.size());
            return reader.read_running_thread(snapshot, target, 7, 100, nullptr, read);
        };
        for (int warm_up = 0; warm_up < 3; ++warm_up)
            sample();
        const std::size_t before = target.calls;
        for (int i = 0; i < 4; ++i) {
            auto read = sample();
            CHECK(read.consistent);
            REQUIRE(read.thread);
            CHECK(read.thread->frames.front().name == (samples % 2 ? "other" : "inner"));
        }
        CHECK(target.calls - before == 4); // one each: no check after the walk
    }
}

TEST_CASE("one thread's read stops at the depth asked for, and finds its thread state once",
          "[python][walk]") {
    for (const PythonLayout* layout : {&layout_2_7(), &layout_3_10(), &layout_3_12()}) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        std::uint64_t code = py.code("deep", "d.py", 1, table);
        std::uint64_t frame = 0;
        for (int i = 0; i < 50; ++i)
            frame = push_frame(py, code, frame, 0, true);
        py.thread_state(frame, 5);
        for (int other = 10; other < 40; ++other)
            py.thread_state(push_frame(py, code, 0, 0, true), other);
        PythonReader reader = py.reader();
        auto cut = reader.read_thread(py.memory(), 5, nullptr, 10);
        REQUIRE(cut);
        CHECK(cut->frames.size() == 10);
        CHECK(cut->truncated);
        auto whole = reader.read_thread(py.memory(), 5);
        REQUIRE(whole);
        CHECK(whole->frames.size() == 50);
        CHECK_FALSE(whole->truncated);
        // The other 30 threads' states were learnt by the first scan: reading them now costs a
        // thread state and its frame each, not another walk over the list.
        const std::size_t before = py.memory().reads();
        for (int other = 10; other < 40; ++other)
            REQUIRE(reader.read_thread(py.memory(), other));
        CHECK(py.memory().reads() - before < 30 * 10);
        CHECK_FALSE(reader.read_thread(py.memory(), 999));
    }
}

TEST_CASE("a read into the frames of one handed back (recycle) gives what a fresh read gives",
          "[python][walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        // Names and files past the small-string size, so their buffers are what is reused.
        const std::uint64_t long_code =
            py.code("a_function_name_past_small_strings", "/srv/app/handlers/long_module_name.py", 10, table);
        const std::uint64_t short_code = py.code("f", "f.py", 3, table);
        // Thread 1: six frames, the third with an unreadable code object.
        std::uint64_t frame = 0;
        for (int i = 0; i < 6; ++i) {
            frame = push_frame(py, long_code, frame, 4 * (i % 3), true);
            if (i == 3)
                py.memory().put(code_at(*layout, frame), std::uint64_t{0x7ffe00000000});
        }
        py.thread_state(frame, 1);
        // Thread 2: two frames of other code.
        py.thread_state(push_frame(py, short_code, push_frame(py, long_code, 0, 8, true), 0, true), 2);

        PythonReader fresh = py.reader();
        const auto first_fresh = fresh.read_thread(py.memory(), 1);
        const auto second_fresh = fresh.read_thread(py.memory(), 2);
        REQUIRE(first_fresh);
        REQUIRE(second_fresh);
        REQUIRE(first_fresh->frames.size() == 6);
        CHECK_FALSE(first_fresh->frames[2].valid);

        PythonReader reader = py.reader();
        auto first = reader.read_thread(py.memory(), 1);
        REQUIRE(first);
        reader.recycle(std::move(*first));
        auto second = reader.read_thread(py.memory(), 2);
        REQUIRE(second);
        CHECK(full_view(*second) == full_view(*second_fresh));
        reader.recycle(std::move(*second));
        auto again = reader.read_thread(py.memory(), 1);
        REQUIRE(again);
        CHECK(full_view(*again) == full_view(*first_fresh));
        CHECK(again->thread_state == first_fresh->thread_state);
        CHECK(again->truncated == first_fresh->truncated);
    }
}

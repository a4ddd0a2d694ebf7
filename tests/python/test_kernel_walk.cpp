// The reader's side of walking Python frames in the kernel (PythonReader::kernel_walk_layout,
// kernel_walk_thread, read_kernel_walk), on synthetic images of every layout, with records made
// by the program's steps in user space (kernel_walk_record). The program itself runs on a real
// kernel in tests/capture and in the CLI tests.

#include "kernel_copy_memory.hpp"
#include "kernel_walk_record.hpp"
#include "synthetic_frames.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <random>

using namespace sampler;
using namespace sampler::python;
using namespace sampler::testing;

namespace {

// Frames of `long_code` and `short_code`, alternating, `depth` of them; with 3.12+ a C-stack shim
// and with 3.11+ an entry frame partway, so the eval-loop calls are told apart as a read tells them.
std::uint64_t push_chain(SyntheticPython& py, std::uint64_t long_code, std::uint64_t short_code, int depth) {
    const PythonLayout& layout = py.layout();
    std::uint64_t frame = 0;
    for (int i = 0; i < depth; ++i) {
        const bool interpreter_frames = layout.frames == FrameModel::interpreter_frame;
        if (interpreter_frames && layout.interp_frame.owner_cstack != absent && i == depth / 2)
            frame = push_frame(py, short_code, frame, 0, false, layout.interp_frame.owner_cstack);
        frame = push_frame(py, i % 2 ? short_code : long_code, frame, 4 * (i % 3), i == depth / 3);
    }
    return frame;
}

} // namespace

TEST_CASE("kernel walk: every layout has one, within the program's limits", "[python][kernel-walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        const PythonReader reader = py.reader();
        const std::optional<pw_layout> walk = reader.kernel_walk_layout(1024);
        REQUIRE(walk);
        CHECK(walk->frame_size > 0);
        CHECK(walk->frame_size <= PW_MAX_FRAME_BYTES);
        CHECK(walk->identity_size > 0);
        CHECK(walk->identity_size <= PW_MAX_IDENTITY_BYTES);
        CHECK(walk->frame_previous >= walk->frame_begin);
        CHECK(walk->frame_previous + 8 <= walk->frame_begin + walk->frame_size);
        CHECK(walk->frame_code + 8 <= walk->frame_begin + walk->frame_size);
        CHECK(walk->cframe_current ==
              (layout->tstate.cframe_current_frame == absent ? -1 : layout->tstate.cframe_current_frame));
        // As many frames as fit the program's buffer, whatever the depth asked for; fewer when asked.
        const std::uint32_t stride = pw_stride(&*walk);
        CHECK(sizeof(pw_header) + (walk->max_frames - 1) * stride + PW_MAX_ENTRY_BYTES <= PW_BUFFER_BYTES);
        CHECK(walk->max_frames >= 64);
        CHECK(reader.kernel_walk_layout(10)->max_frames == 10);
    }
}

TEST_CASE("kernel walk: one scan tells every listed thread's state, before any read of its frames",
          "[python][kernel-walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        const std::uint64_t code = py.code("f", "f.py", 3, table);
        const std::uint64_t first = py.thread_state(push_frame(py, code, 0, 0, true), 41);
        const std::uint64_t second = py.thread_state(push_frame(py, code, 0, 0, true), 42);
        PythonReader reader = py.reader();
        CHECK_FALSE(reader.kernel_walk_thread(42));
        auto threads = reader.kernel_walk_threads(py.memory());
        std::ranges::sort(threads, {}, [](const auto& entry) { return entry.first; });
        REQUIRE(threads.size() == 2);
        CHECK(threads[0].first == 41);
        CHECK(threads[0].second.thread_state == first);
        CHECK(threads[1].first == 42);
        CHECK(threads[1].second.thread_state == second);
        // As a read would have found them.
        const std::optional<pw_thread> known = reader.kernel_walk_thread(42);
        REQUIRE(known);
        CHECK(known->thread_id == threads[1].second.thread_id);
        const auto read = reader.read_thread(py.memory(), 42);
        REQUIRE(read);
        CHECK(read->thread_state == second);
    }
}

TEST_CASE("kernel walk: a record gives what a read of the same memory gives", "[python][kernel-walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        const std::uint64_t long_code =
            py.code("a_function_name_past_small_strings", "/srv/app/handlers/long_module_name.py", 10, table);
        const std::uint64_t short_code = py.code("f", "f.py", 3, table);
        const std::uint64_t state = py.thread_state(push_chain(py, long_code, short_code, 9), 41);
        py.set_gil_holder(state);

        PythonReader reader = py.reader();
        CHECK_FALSE(reader.kernel_walk_thread(41)); // not found by a read yet
        const auto read = reader.read_thread(py.memory(), 41);
        REQUIRE(read);
        REQUIRE(read->frames.size() >= 9);
        const std::optional<pw_thread> thread = reader.kernel_walk_thread(41);
        REQUIRE(thread);
        CHECK(thread->thread_state == state);

        const std::optional<pw_layout> walk = reader.kernel_walk_layout(1024, &py.memory());
        REQUIRE(walk);
        CHECK(walk->gil_holder != 0); // found through the target's memory
        const auto record =
            kernel_walk_record(*walk, py.memory(), thread->thread_state, thread->thread_id, 41);
        REQUIRE(record);
        // Another reader, which has seen none of these code objects: the names are read once.
        // (Its own layout found the GIL's words, as the session's does before any walk.)
        PythonReader fresh = py.reader();
        REQUIRE(fresh.kernel_walk_layout(1024, &py.memory()));
        for (int round = 0; round < 2; ++round) {
            std::optional<bool> holds_gil;
            auto walked = fresh.read_kernel_walk(record->data(), record->size(), py.memory(), 1024, nullptr,
                                                 &holds_gil);
            REQUIRE(walked);
            CHECK(full_view(*walked) == full_view(*read));
            CHECK(walked->thread_state == state);
            CHECK(walked->tid == 41);
            CHECK_FALSE(walked->truncated);
            // Who held the GIL, read with the frames: this thread.
            REQUIRE(holds_gil);
            CHECK(*holds_gil);
            CHECK(walked->holds_gil == read->holds_gil);
            fresh.recycle(std::move(*walked));
        }
        // Another thread holds it now: the next record says so.
        py.set_gil_holder(state + 8);
        const auto later =
            kernel_walk_record(*walk, py.memory(), thread->thread_state, thread->thread_id, 41);
        REQUIRE(later);
        std::optional<bool> holds_gil;
        auto walked =
            fresh.read_kernel_walk(later->data(), later->size(), py.memory(), 1024, nullptr, &holds_gil);
        REQUIRE(walked);
        REQUIRE(holds_gil);
        CHECK_FALSE(*holds_gil);
        fresh.recycle(std::move(*walked));
        // --max-depth cuts the walk as it cuts a read.
        const auto shallow = fresh.read_kernel_walk(record->data(), record->size(), py.memory(), 3);
        REQUIRE(shallow);
        CHECK(shallow->depth_limit);

        // A thread state whose thread_id word changed (freed, reused) is handed back.
        CHECK_FALSE(kernel_walk_record(*walk, py.memory(), thread->thread_state, thread->thread_id + 8, 41));
        // So is a chain longer than the program may visit.
        pw_layout short_walk = *walk;
        short_walk.max_frames = 4;
        CHECK_FALSE(kernel_walk_record(short_walk, py.memory(), thread->thread_state, thread->thread_id, 41));
    }
}

TEST_CASE("kernel walk: the frames are the record's, and a code object replaced since is seen",
          "[python][kernel-walk]") {
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        const std::uint64_t code = py.code("before", "a.py", 10, table);
        const std::uint64_t other = py.code("other", "b.py", 20, table);
        const std::uint64_t frame = push_frame(py, code, push_frame(py, other, 0, 0, true), 4, false);
        py.thread_state(frame, 7);
        PythonReader reader = py.reader();
        REQUIRE(reader.read_thread(py.memory(), 7)); // the cache now holds `before`
        const std::optional<pw_thread> thread = reader.kernel_walk_thread(7);
        const std::optional<pw_layout> walk = reader.kernel_walk_layout(1024);
        REQUIRE(thread);
        REQUIRE(walk);

        // The code object's memory now holds another one (a new name) when the sample is taken.
        const std::uint64_t renamed = py.str(std::string("after"));
        const int name_field = layout->code.qualname != absent ? layout->code.qualname : layout->code.name;
        py.memory().put(code + static_cast<std::uint64_t>(layout->code.name), renamed);
        py.memory().put(code + static_cast<std::uint64_t>(name_field), renamed);
        const auto record =
            kernel_walk_record(*walk, py.memory(), thread->thread_state, thread->thread_id, 7);
        REQUIRE(record);
        // And after it, the frames change: the record is what counts.
        py.memory().put(caller_link_at(*layout, frame), std::uint64_t{0});
        const auto walked = reader.read_kernel_walk(record->data(), record->size(), py.memory(), 1024);
        REQUIRE(walked);
        REQUIRE(walked->frames.size() == 2);
        CHECK(walked->frames[0].name == "after");
        CHECK(walked->frames[1].name == "other");
    }
}

TEST_CASE("kernel walk: records that are cut short, of another layout, or garbage are refused or bounded",
          "[python][kernel-walk]") {
    std::mt19937_64 random(2026);
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        SyntheticPython py(*layout);
        auto table = three_line_table(*layout);
        const std::uint64_t code = py.code("f", "f.py", 3, table);
        py.thread_state(push_chain(py, code, code, 6), 9);
        PythonReader reader = py.reader();
        REQUIRE(reader.read_thread(py.memory(), 9));
        const auto thread = reader.kernel_walk_thread(9);
        const auto walk = reader.kernel_walk_layout(1024);
        REQUIRE(thread);
        REQUIRE(walk);
        auto record = kernel_walk_record(*walk, py.memory(), thread->thread_state, thread->thread_id, 9);
        REQUIRE(record);

        CHECK_FALSE(reader.read_kernel_walk(record->data(), sizeof(pw_header) - 1, py.memory(), 1024));
        CHECK_FALSE(reader.read_kernel_walk(record->data(), record->size() - 1, py.memory(), 1024));
        std::vector<std::uint8_t> other_stride = *record;
        pw_header header{};
        std::memcpy(&header, other_stride.data(), sizeof header);
        header.stride += 8;
        std::memcpy(other_stride.data(), &header, sizeof header);
        CHECK_FALSE(reader.read_kernel_walk(other_stride.data(), other_stride.size(), py.memory(), 1024));

        // Random bytes in the frames: a walk that ends, with whatever it could read.
        for (int round = 0; round < 200; ++round) {
            std::vector<std::uint8_t> garbage = *record;
            for (std::size_t i = sizeof(pw_header); i < garbage.size(); ++i)
                if (random() % 4 == 0)
                    garbage[i] = static_cast<std::uint8_t>(random());
            auto walked = reader.read_kernel_walk(garbage.data(), garbage.size(), py.memory(), 1024);
            REQUIRE(walked);
            CHECK(walked->frames.size() <= 1024);
            reader.recycle(std::move(*walked));
        }
    }
}

TEST_CASE("kernel copy memory: reads inside a piece come from it, others from the target",
          "[python][kernel-walk]") {
    FakeMemory live;
    live.add_range(0x1000, 64)[0] = 0xaa;
    const std::uint8_t first[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const std::uint8_t second[8] = {21, 22, 23, 24, 25, 26, 27, 28};
    KernelCopyMemory copy;
    copy.reset(live);
    copy.add(0x1000, first, sizeof first);
    copy.add(0x2000, second, sizeof second);
    std::uint8_t out[16] = {};
    REQUIRE(copy.read(0x1004, out, 4));
    CHECK(out[0] == 5);
    CHECK(out[3] == 8);
    REQUIRE(copy.read(0x2000, out, 8));
    CHECK(out[7] == 28);
    CHECK(copy.live_reads() == 0);
    // Past a piece's end: the whole read goes to the target, which has the range (zeros past 0).
    REQUIRE(copy.read(0x100c, out, 8));
    CHECK(out[0] == 0);
    CHECK(copy.live_reads() == 1);
    REQUIRE(copy.read(0x1000, out, 1));
    CHECK(out[0] == 1);                     // the copy wins where it has the bytes
    CHECK_FALSE(copy.read(0x2004, out, 8)); // neither has all of them
    CHECK(copy.live_reads() == 2);
    copy.reset(live);
    REQUIRE(copy.read(0x1000, out, 1));
    CHECK(out[0] == 0xaa);
}

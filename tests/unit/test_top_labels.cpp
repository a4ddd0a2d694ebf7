// Which rows a frame counts in, by function and by line.
#include "top_labels.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

TEST_CASE("top: native frames are rows per function, or per line in line mode", "[top]") {
    Frame frame{.kind = FrameKind::native,
                .name = "burn(unsigned long)",
                .file = "/src/workload.cpp",
                .line = 36,
                .module = "workload",
                .address = 0x1234,
                .module_offset = 0x234};
    TopFrameLabels labels = top_frame_labels(frame);
    CHECK(labels.function == "burn(unsigned long)");
    CHECK(labels.line == "burn(unsigned long) (/src/workload.cpp:36)");

    Frame symbol_only{
        .kind = FrameKind::native, .name = "_start", .module = "workload", .symbol_offset = 0x21};
    CHECK(top_frame_labels(symbol_only).function == "_start");
    CHECK(top_frame_labels(symbol_only).line == "_start");

    Frame unknown{.module = "lib.so", .address = 0x7010, .module_offset = 0x10};
    CHECK(top_frame_labels(unknown).function == "lib.so+0x10");
    CHECK(top_frame_labels(unknown).line == "lib.so+0x10");
}

TEST_CASE("top: Python frames group by name and file, ignoring the line, in function mode", "[top]") {
    Frame first{.kind = FrameKind::python, .name = "handler", .file = "app.py", .line = 12};
    Frame second = first;
    second.line = 20;
    CHECK(top_frame_labels(first).function == "handler (app.py)");
    CHECK(top_frame_labels(second).function == "handler (app.py)");
    CHECK(top_frame_labels(first).line == "handler (app.py:12)");
    CHECK(top_frame_labels(second).line == "handler (app.py:20)");
}

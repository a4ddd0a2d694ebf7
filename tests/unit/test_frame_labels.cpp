#include "sampler/frame.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

TEST_CASE("aggregate labels show name and line, or module+offset, or address") {
    Frame full{.kind = FrameKind::native, .name = "burn", .file = "w.cpp", .line = 12};
    CHECK(aggregate_label(full) == "burn (w.cpp:12)");
    Frame named{.kind = FrameKind::native, .name = "burn"};
    CHECK(aggregate_label(named) == "burn");
    Frame in_module{.module = "libc.so.6", .module_offset = 0x1a2b};
    CHECK(aggregate_label(in_module) == "libc.so.6+0x1a2b");
    Frame bare{.address = 0xdeadbeef};
    CHECK(aggregate_label(bare) == "0xdeadbeef");
    Frame thread{.kind = FrameKind::thread, .name = "thread 7 (main)", .file = "ignored"};
    CHECK(aggregate_label(thread) == "thread 7 (main)");
}

TEST_CASE("dump labels follow the documented forms") {
    Frame with_line{.kind = FrameKind::native, .name = "burn", .file = "w.cpp", .line = 12};
    CHECK(dump_label(with_line) == "burn (w.cpp:12)");
    Frame with_symbol{
        .kind = FrameKind::native, .name = "memcpy", .module = "libc.so.6", .symbol_offset = 0x10};
    CHECK(dump_label(with_symbol) == "memcpy+0x10 (libc.so.6)");
    Frame unknown{.module = "a.out", .address = 0x5000, .module_offset = 0x1000};
    CHECK(dump_label(unknown) == "0x5000 (a.out+0x1000)");
    Frame inlined{.kind = FrameKind::native, .name = "mix", .file = "w.cpp", .line = 3, .inlined = true};
    CHECK(dump_label(inlined) == "mix (w.cpp:3) [inline]");
}

TEST_CASE("frame kinds have the names dump's JSON and the Chrome trace's categories use") {
    CHECK(std::string(frame_kind_name(FrameKind::native)) == "native");
    CHECK(std::string(frame_kind_name(FrameKind::python)) == "python");
    CHECK(std::string(frame_kind_name(FrameKind::kernel)) == "kernel");
    CHECK(std::string(frame_kind_name(FrameKind::unknown)) == "unknown");
    CHECK(std::string(frame_kind_name(FrameKind::thread)) == "thread");
    CHECK(std::string(frame_kind_name(FrameKind::process)) == "process");
    CHECK(std::string(frame_kind_name(FrameKind::task)) == "task");
    CHECK(std::string(frame_kind_name(static_cast<FrameKind>(200))) == "unknown"); // a value read from a file
}

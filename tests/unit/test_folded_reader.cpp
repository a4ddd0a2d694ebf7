#include <catch2/catch.hpp>

#include "folded_reader.hpp"
#include "folded_writer.hpp"

using namespace sampler;

TEST_CASE("folded stacks read back to the same folded text", "[folded-reader]") {
    const std::string text = "main;compute 3\nmain;log 1\nmain;parse (app/io.py:12);read_[k] 2\n";
    const FoldedInput input = read_folded(text);
    CHECK(input.lines == 3);
    CHECK(input.malformed == 0);
    CHECK(input.profile.tree.total() == 6);
    CHECK(render_folded(input.profile) == text);
}

TEST_CASE("folded reader skips and counts malformed lines", "[folded-reader]") {
    const std::string text = "main;good 2\n"
                             "no_count_here\n"
                             "main;bad_count x12\n"
                             "\n"        // blank: ignored, not malformed
                             "   \t 5\n" // no stack
                             "main;negative -1\n"
                             "main;good 3\r\n"                    // CRLF files
                             "perf;frame 18446744073709551616\n"; // does not fit 64 bits
    const FoldedInput input = read_folded(text);
    CHECK(input.lines == 2);
    CHECK(input.malformed == 5);
    CHECK(input.first_malformed_line == 2);
    CHECK(input.profile.tree.total() == 5);
    CHECK(render_folded(input.profile) == "main;good 5\n");
}

TEST_CASE("folded reader accepts perf and py-spy shapes", "[folded-reader]") {
    // stackcollapse-perf.pl: process name root, kernel frames with _[k]; py-spy raw: Python
    // frames as name (file:line), counts after the last space even when names have spaces.
    const std::string text = "myapp;main;do_syscall_64_[k];ksys_read_[k] 7\n"
                             "python3;<module> (app.py:3);operator() (const std::string&) (x.py:9) 4\n"
                             "myapp;libc.so.6+0x1234;0x7fff12 1\n";
    const FoldedInput input = read_folded(text);
    CHECK(input.malformed == 0);
    CHECK(input.profile.tree.total() == 12);
    CHECK(render_folded(input.profile) ==
          "myapp;libc.so.6+0x1234;0x7fff12 1\n"
          "myapp;main;do_syscall_64_[k];ksys_read_[k] 7\n"
          "python3;<module> (app.py:3);operator() (const std::string&) (x.py:9) 4\n");
}

TEST_CASE("frame kinds are guessed from the label", "[folded-reader]") {
    CHECK(guess_frame_kind("handle (app/views.py:42)") == FrameKind::python);
    CHECK(guess_frame_kind("<module> (/usr/lib/python3.11/runpy.pyw:1)") == FrameKind::python);
    CHECK(guess_frame_kind("do_syscall_64_[k]") == FrameKind::kernel);
    CHECK(guess_frame_kind("schedule[k]") == FrameKind::kernel);
    CHECK(guess_frame_kind("0x7f00deadbeef") == FrameKind::unknown);
    CHECK(guess_frame_kind("libc.so.6+0x9a2f0") == FrameKind::unknown);
    CHECK(guess_frame_kind("main") == FrameKind::native);
    CHECK(guess_frame_kind("std::vector<int>::push_back(int const&)") == FrameKind::native);
    CHECK(guess_frame_kind("f (src/a.cpp:10)") == FrameKind::native);
    CHECK(guess_frame_kind("0xnothex") == FrameKind::native);
    CHECK(guess_frame_kind(std::string(100000, 'x')) == FrameKind::native); // no regex recursion
}

TEST_CASE("folded reader stops at a count that takes the total past 2^53", "[folded-reader]") {
    // Near 2^64 two such counts wrapped around: a flame graph of "18446744073709551614 samples".
    const FoldedInput input = read_folded("main;a 9007199254740000\nmain;b 992\nmain;c 1\nmain;d 2\n");
    CHECK(input.too_large_line == 3);
    CHECK(input.profile.tree.total() == max_folded_samples);
    CHECK(read_folded("main;a 9223372036854775807\n").too_large_line == 1);
    CHECK(read_folded("main;a 9007199254740992\n").too_large_line == 0);
}

TEST_CASE("other formats are recognised before they are read as folded stacks", "[folded-reader]") {
    CHECK(other_format("<?xml version=\"1.0\"?>\n<svg>") == "an SVG or XML file");
    CHECK(other_format("\n  <svg version=\"1.1\" width=\"1200\">") == "an SVG or XML file");
    CHECK(other_format(std::string("\x1f\x8b\x08\x00", 4)) == "gzip-compressed (a pprof profile?)");
    CHECK(other_format("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\"}") ==
          "JSON (speedscope or a Chrome trace?)");
    CHECK(other_format("[{\"ph\":\"B\"}]") == "JSON (speedscope or a Chrome trace?)");
    // Frame names may start like these formats do.
    CHECK(other_format("<module> (app.py:3);work (app.py:9) 4\n").empty());
    CHECK(other_format("{{closure}};main 2\n").empty());
    CHECK(other_format("[unknown];main 2\n").empty());
    CHECK(other_format("").empty());
}

#include <catch2/catch.hpp>

#include "flamegraph_svg.hpp"
#include "skips.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace sampler;

namespace {

Frame native(std::string name, std::string file = "", std::uint32_t line = 0) {
    Frame frame;
    frame.kind = FrameKind::native;
    frame.name = std::move(name);
    frame.file = std::move(file);
    frame.line = line;
    return frame;
}

Frame of_kind(FrameKind kind, std::string name) {
    Frame frame = native(std::move(name));
    frame.kind = kind;
    return frame;
}

// Adds `count` samples of a stack given by frames, outermost first.
void add_stack(Profile& profile, const std::vector<Frame>& stack, std::uint64_t count) {
    std::vector<FrameId> ids;
    for (const Frame& frame : stack)
        ids.push_back(profile.intern(frame));
    profile.tree.add(ids, count);
}

// main -> compute (3) and main -> log (1): a 3:1 split under main.
Profile small_profile() {
    Profile profile;
    profile.info.pid = 42;
    profile.info.command_line = "./app --fast";
    profile.info.duration_seconds = 1.5;
    add_stack(profile, {native("main", "app.c", 10), native("compute")}, 3);
    add_stack(profile, {native("main", "app.c", 10), native("log")}, 1);
    return profile;
}

// What the tests need of one drawn frame, read back from the SVG.
struct DrawnFrame {
    std::string name; // as escaped in the data-name attribute
    std::string title;
    double x = 0, y = 0, width = 0;
    std::string fill;
    std::string text;
};

std::vector<DrawnFrame> drawn_frames(const std::string& svg) {
    static const std::regex frame_pattern(
        R"re(<g class="frame" data-name="([^"]*)"[^>]*><title>([^<]*)</title>)re"
        R"re(<rect x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)"[^>]*fill="([^"]*)"/>)re"
        R"re(<text[^>]*>([^<]*)</text></g>)re");
    std::vector<DrawnFrame> frames;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), frame_pattern); it != std::sregex_iterator();
         ++it) {
        const std::smatch& m = *it;
        frames.push_back({m[1], m[2], std::stod(m[3]), std::stod(m[4]), std::stod(m[5]), m[6], m[7]});
    }
    return frames;
}

std::optional<DrawnFrame> find_frame(const std::string& svg, const std::string& escaped_name) {
    for (const DrawnFrame& frame : drawn_frames(svg))
        if (frame.name == escaped_name)
            return frame;
    return std::nullopt;
}

// The frame of that name, failing the test case (by exception) when it was not drawn.
DrawnFrame frame_named(const std::string& svg, const std::string& escaped_name) {
    if (auto frame = find_frame(svg, escaped_name))
        return *frame;
    throw std::runtime_error("no frame named " + escaped_name);
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
        ++count;
    return count;
}

const char* const no_xmllint =
    "xmllint not found (Debian package libxml2-utils): the XML is not checked for well-formedness";

bool have_xmllint() {
    return std::system("command -v xmllint >/dev/null 2>&1") == 0;
}

// Runs xmllint on the text; true when it parses as well-formed XML.
bool xmllint_accepts(const std::string& svg) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("sampler_flamegraph_test_" + std::to_string(::getpid()) + ".svg");
    {
        std::ofstream file(path, std::ios::binary);
        file << svg;
    }
    const std::string command = "xmllint --noout '" + path.string() + "' 2>&1";
    const int status = std::system(command.c_str());
    std::filesystem::remove(path);
    return status == 0;
}

} // namespace

TEST_CASE("flame graph is one SVG document with its script and style inline", "[flamegraph]") {
    const std::string svg = render_flamegraph_svg(small_profile());

    CHECK(svg.rfind("<?xml", 0) == 0);
    CHECK(count_of(svg, "<svg") == 1);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("width=\"1200\"") != std::string::npos);
    CHECK(count_of(svg, "<script type=\"text/ecmascript\"><![CDATA[") == 1);
    CHECK(count_of(svg, "<style") == 1);
    // One ]]> closes the style, one the script; any other would end a CDATA section early.
    CHECK(count_of(svg, "]]>") == 2);
    // Self-contained: nothing fetched from elsewhere.
    CHECK(svg.find("href=\"http") == std::string::npos);
    CHECK(svg.find("src=") == std::string::npos);
    CHECK(svg.find("@import") == std::string::npos);
    // Controls the script binds to.
    CHECK(svg.find(">Search</text>") != std::string::npos);
    CHECK(svg.find(">Reset Search</text>") != std::string::npos);
    CHECK(svg.find(">Reset Zoom</text>") != std::string::npos);
    CHECK(svg.find("id=\"details\"") != std::string::npos);
    CHECK(svg.find("id=\"matched\"") != std::string::npos);
}

TEST_CASE("flame graph draws every frame with its label, samples and share", "[flamegraph]") {
    const std::string svg = render_flamegraph_svg(small_profile());
    const auto frames = drawn_frames(svg);
    REQUIRE(frames.size() == 4);

    const auto root = find_frame(svg, "all");
    const auto main_frame = find_frame(svg, "main (app.c:10)");
    REQUIRE(root);
    REQUIRE(main_frame);
    REQUIRE(find_frame(svg, "compute"));
    REQUIRE(find_frame(svg, "log"));
    CHECK(root->title == "all (4 samples, 100.00%)");
    CHECK(main_frame->title == "main (app.c:10) (4 samples, 100.00%)");
    CHECK(frame_named(svg, "compute").title == "compute (3 samples, 75.00%)");
    CHECK(frame_named(svg, "log").title == "log (1 samples, 25.00%)");
    CHECK(main_frame->text == "main (app.c:10)");
    // The script re-lays-out zoomed frames from these, in samples.
    CHECK(svg.find("data-name=\"compute\" data-samples=\"3\" data-offset=\"0\" data-depth=\"2\"") !=
          std::string::npos);
    CHECK(svg.find("data-name=\"log\" data-samples=\"1\" data-offset=\"3\" data-depth=\"2\"") !=
          std::string::npos);
}

TEST_CASE("flame graph widths are proportional to samples", "[flamegraph]") {
    const std::string svg = render_flamegraph_svg(small_profile());
    const auto compute = find_frame(svg, "compute");
    const auto log = find_frame(svg, "log");
    const auto root = find_frame(svg, "all");
    REQUIRE(compute);
    REQUIRE(log);
    REQUIRE(root);

    CHECK(compute->width / log->width == Approx(3.0).epsilon(0.01));
    CHECK(compute->width + log->width == Approx(root->width).epsilon(0.01));
    CHECK(root->width == Approx(1180.0));
}

TEST_CASE("flame graph orders siblings by label whatever order they were sampled in", "[flamegraph]") {
    Profile zulu_first;
    add_stack(zulu_first, {native("zulu")}, 2);
    add_stack(zulu_first, {native("alpha")}, 2);
    add_stack(zulu_first, {native("mike")}, 2);
    Profile alpha_first;
    add_stack(alpha_first, {native("alpha")}, 2);
    add_stack(alpha_first, {native("mike")}, 2);
    add_stack(alpha_first, {native("zulu")}, 2);

    const std::string svg = render_flamegraph_svg(zulu_first);
    CHECK(frame_named(svg, "alpha").x < frame_named(svg, "mike").x);
    CHECK(frame_named(svg, "mike").x < frame_named(svg, "zulu").x);
    CHECK(svg == render_flamegraph_svg(alpha_first));
}

TEST_CASE("flame graph merges sibling frames that have the same label", "[flamegraph]") {
    Profile profile;
    Frame in_app = native("helper");
    in_app.module = "app";
    Frame in_lib = native("helper");
    in_lib.module = "libhelper.so";
    add_stack(profile, {in_app}, 2);
    add_stack(profile, {in_lib}, 3);

    const std::string svg = render_flamegraph_svg(profile);
    CHECK(count_of(svg, "data-name=\"helper\"") == 1);
    CHECK(frame_named(svg, "helper").title == "helper (5 samples, 100.00%)");
}

TEST_CASE("flame graph escapes names so they stay text", "[flamegraph]") {
    Profile profile;
    add_stack(profile, {native("<script>alert(1)</script>")}, 1);
    add_stack(profile, {native("operator<<(std::ostream&, \"x\", 'y')")}, 1);

    const std::string svg = render_flamegraph_svg(profile);
    CHECK(svg.find("<script>alert") == std::string::npos);
    CHECK(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    REQUIRE(find_frame(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    REQUIRE(find_frame(svg, "operator&lt;&lt;(std::ostream&amp;, &quot;x&quot;, &apos;y&apos;)"));
    // The only script element is the embedded one.
    CHECK(count_of(svg, "<script") == 1);
}

TEST_CASE("flame graph replaces bytes that XML cannot hold", "[flamegraph]") {
    Profile profile;
    add_stack(profile, {native(std::string("bad\xff\xfe utf8")), native(std::string("ctrl\x01\x1b_char"))},
              1);
    add_stack(profile, {native("]]>cdata"), native("tab\tand\nnewline")}, 1);

    const std::string svg = render_flamegraph_svg(profile);
    CHECK(find_frame(svg, "bad\xEF\xBF\xBD\xEF\xBF\xBD utf8"));
    CHECK(find_frame(svg, "ctrl\xEF\xBF\xBD\xEF\xBF\xBD_char"));
    CHECK(find_frame(svg, "]]&gt;cdata"));
    CHECK(find_frame(svg, "tab and newline"));
    CHECK(count_of(svg, "]]>") == 2);
    if (have_xmllint())
        CHECK(xmllint_accepts(svg));
    else
        testing::skip_part(no_xmllint);
}

TEST_CASE("flame graph leaves out frames narrower than the minimum width", "[flamegraph]") {
    Profile profile;
    add_stack(profile, {native("main"), native("busy")}, 100000);
    add_stack(profile, {native("main"), native("rare"), native("rare_child")}, 1);

    // One sample of 100001 across 1180 px is about 0.012 px, under the default 0.1 px.
    const std::string svg = render_flamegraph_svg(profile);
    CHECK(find_frame(svg, "busy"));
    CHECK_FALSE(find_frame(svg, "rare"));
    CHECK_FALSE(find_frame(svg, "rare_child"));

    FlamegraphOptions keep_all;
    keep_all.min_width_pixels = 0;
    const std::string everything = render_flamegraph_svg(profile, keep_all);
    CHECK(find_frame(everything, "rare"));
    CHECK(find_frame(everything, "rare_child"));
}

TEST_CASE("flame graph cuts labels to fit their box", "[flamegraph]") {
    Profile profile;
    const std::string long_name(300, 'x');
    add_stack(profile, {native(long_name)}, 1);
    add_stack(profile, {native("narrow_function_name")}, 100);

    const std::string svg = render_flamegraph_svg(profile);
    const auto cut = find_frame(svg, long_name);
    REQUIRE(cut);
    // 1/101 of 1180 px is about 11.7 px: room for no label at all.
    CHECK(cut->text.empty());
    const auto wide = find_frame(svg, "narrow_function_name");
    REQUIRE(wide);
    CHECK(wide->text == "narrow_function_name");

    Profile only_long;
    add_stack(only_long, {native(long_name)}, 1);
    const auto full_width = find_frame(render_flamegraph_svg(only_long), long_name);
    REQUIRE(full_width);
    CHECK(full_width->text.size() < long_name.size());
    CHECK(full_width->text.size() > 100);
    CHECK(full_width->text.substr(full_width->text.size() - 2) == "..");
}

TEST_CASE("flame graph title and subtitle come from options and profile info", "[flamegraph]") {
    SECTION("default title from the command line") {
        const std::string svg = render_flamegraph_svg(small_profile());
        CHECK(svg.find(">sampler: ./app --fast</text>") != std::string::npos);
        CHECK(svg.find(">PID 42, 1.50 s, 4 samples</text>") != std::string::npos);
    }
    SECTION("title option, escaped") {
        FlamegraphOptions options;
        options.title = "R&D <profile> \"one\"";
        const std::string svg = render_flamegraph_svg(small_profile(), options);
        CHECK(svg.find(">R&amp;D &lt;profile&gt; &quot;one&quot;</text>") != std::string::npos);
        CHECK(svg.find("<profile>") == std::string::npos);
        CHECK(svg.find("sampler: ./app") == std::string::npos);
    }
    SECTION("command line with markup is escaped too") {
        Profile profile = small_profile();
        profile.info.command_line = "sh -c 'a<b && c>d'";
        const std::string svg = render_flamegraph_svg(profile);
        CHECK(svg.find("sampler: sh -c &apos;a&lt;b &amp;&amp; c&gt;d&apos;") != std::string::npos);
    }
}

TEST_CASE("flame graph output is deterministic", "[flamegraph]") {
    const Profile profile = small_profile();
    CHECK(render_flamegraph_svg(profile) == render_flamegraph_svg(profile));
    CHECK(render_flamegraph_svg(profile) == render_flamegraph_svg(small_profile()));
}

TEST_CASE("flame graph puts the root at the bottom, or at the top when inverted", "[flamegraph]") {
    const Profile profile = small_profile();
    FlamegraphOptions icicle;
    icicle.inverted = true;

    const std::string normal = render_flamegraph_svg(profile);
    const std::string inverted = render_flamegraph_svg(profile, icicle);
    CHECK(normal != inverted);

    // Normal: deeper frames are higher up (smaller y). Inverted: lower down.
    CHECK(frame_named(normal, "all").y > frame_named(normal, "main (app.c:10)").y);
    CHECK(frame_named(normal, "main (app.c:10)").y > frame_named(normal, "compute").y);
    CHECK(frame_named(inverted, "all").y < frame_named(inverted, "main (app.c:10)").y);
    CHECK(frame_named(inverted, "main (app.c:10)").y < frame_named(inverted, "compute").y);
    // Only the vertical placement changes.
    CHECK(frame_named(normal, "compute").x == frame_named(inverted, "compute").x);
    CHECK(frame_named(normal, "compute").width == frame_named(inverted, "compute").width);
}

TEST_CASE("flame graph colours depend on the name and kind only", "[flamegraph]") {
    Profile first;
    add_stack(first, {native("main"), native("shared_function")}, 5);
    Profile second;
    add_stack(second, {native("other"), native("deeper"), native("shared_function")}, 1);
    add_stack(second, {native("unrelated")}, 9);

    const auto in_first = find_frame(render_flamegraph_svg(first), "shared_function");
    const auto in_second = find_frame(render_flamegraph_svg(second), "shared_function");
    REQUIRE(in_first);
    REQUIRE(in_second);
    CHECK(in_first->fill == in_second->fill);
    CHECK(in_first->fill.rfind("rgb(", 0) == 0);

    // Kinds use separate families of colours.
    Profile kinds;
    add_stack(kinds, {of_kind(FrameKind::native, "same_name")}, 1);
    add_stack(kinds,
              {of_kind(FrameKind::thread, "thread 7 (worker)"), of_kind(FrameKind::python, "same_name_py")},
              1);
    const std::string svg = render_flamegraph_svg(kinds);
    CHECK(frame_named(svg, "same_name").fill != frame_named(svg, "same_name_py").fill);
    CHECK(svg.find(">process/task/thread</text>") != std::string::npos);
    CHECK(svg.find(">python</text>") != std::string::npos);

    // Task roots (--tasks) are drawn like the thread and process roots: a colour depends on the
    // name and the family only, so one name gets one colour in the family and another outside.
    auto fill_of = [](FrameKind kind) {
        Profile one;
        add_stack(one, {of_kind(kind, "task Task-3 (client)")}, 1);
        return frame_named(render_flamegraph_svg(one), "task Task-3 (client)").fill;
    };
    CHECK(fill_of(FrameKind::task) == fill_of(FrameKind::thread));
    CHECK(fill_of(FrameKind::task) == fill_of(FrameKind::process));
    CHECK(fill_of(FrameKind::task) != fill_of(FrameKind::native));
}

TEST_CASE("flame graph of an empty profile is still a drawable document", "[flamegraph]") {
    const std::string svg = render_flamegraph_svg(Profile{});
    const auto root = find_frame(svg, "all");
    REQUIRE(root);
    CHECK(root->title == "all (0 samples, 0.00%)");
    CHECK(drawn_frames(svg).size() == 1);
    if (have_xmllint())
        CHECK(xmllint_accepts(svg));
    else
        testing::skip_part(no_xmllint);
}

TEST_CASE("flame graph is well-formed XML", "[flamegraph]") {
    if (!have_xmllint())
        testing::skip_test(no_xmllint);
    Profile profile = small_profile();
    add_stack(profile, {native("<script>alert(1)</script>"), native("a & b")}, 2);
    add_stack(profile,
              {of_kind(FrameKind::process, "process 42 (./app \"quoted\")"),
               of_kind(FrameKind::kernel, "do_syscall_64"), of_kind(FrameKind::unknown, "")},
              1);
    FlamegraphOptions options;
    options.title = "<b>&'\"";
    CHECK(xmllint_accepts(render_flamegraph_svg(profile, options)));
    options.inverted = true;
    CHECK(xmllint_accepts(render_flamegraph_svg(profile, options)));
}

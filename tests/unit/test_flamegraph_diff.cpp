// The differential flame graph: colours by change of share, tooltips with both shares, and a
// golden file for the whole document (SAMPLER_BLESS=1 rewrites it after an intended change).
#include <catch2/catch.hpp>

#include "diff_colour.hpp"
#include "flamegraph_svg.hpp"
#include "folded_reader.hpp"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

using namespace sampler;

namespace {

// BEFORE: compute 50%, log 50%. AFTER: compute 75%, log 25%, plus a new frame under compute.
const char* const before_text = "main;compute 2\nmain;log 2\n";
const char* const after_text = "main;compute 4\nmain;compute;simd_kernel 2\nmain;log 2\nbroken line\n";

std::string render_diff(const FlamegraphOptions& base = {}) {
    const FoldedInput before = read_folded(before_text);
    const FoldedInput after = read_folded(after_text);
    FlamegraphOptions options = base;
    options.before = &before.profile;
    if (options.title.empty())
        options.title = "diff test";
    return render_flamegraph_svg(after.profile, options);
}

struct Drawn {
    std::string title, fill;
};

Drawn drawn(const std::string& svg, const std::string& name) {
    const std::regex pattern("<g class=\"frame\" data-name=\"" + name +
                             "\"[^>]*><title>([^<]*)</title><rect [^>]*fill=\"([^\"]*)\"");
    std::smatch match;
    if (!std::regex_search(svg, match, pattern))
        throw std::runtime_error("no frame " + name);
    return {match[1], match[2]};
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace

TEST_CASE("diff colour is red for growth, blue for shrinkage, by size", "[diff]") {
    CHECK(diff_colour(0.5, 0.5, 0.25) == "rgb(245,245,245)");
    CHECK(diff_colour(0.25, 0.5, 0.25) == "rgb(245,45,45)");
    CHECK(diff_colour(0.5, 0.25, 0.25) == "rgb(45,45,245)");
    // Half the largest change: a lighter red.
    CHECK(diff_colour(0.25, 0.375, 0.25) == "rgb(245,133,133)");
    CHECK(diff_colour(0, 0, 0) == "rgb(245,245,245)");
}

TEST_CASE("diff flame graph: widths from AFTER, colour and tooltip from both", "[diff]") {
    const std::string svg = render_diff();
    const Drawn compute = drawn(svg, "compute");
    const Drawn log = drawn(svg, "log");
    const Drawn kernel = drawn(svg, "simd_kernel");
    const Drawn main_frame = drawn(svg, "main");
    CHECK(compute.title == "compute (after 6 samples, 75.00%; before 2 samples, 50.00%)");
    CHECK(log.title == "log (after 2 samples, 25.00%; before 2 samples, 50.00%)");
    CHECK(kernel.title == "simd_kernel (after 2 samples, 25.00%; before 0 samples, 0.00%)");
    CHECK(compute.fill == "rgb(245,45,45)"); // +25 points, the largest change
    CHECK(log.fill == "rgb(45,45,245)");     // -25 points
    CHECK(kernel.fill == "rgb(245,45,45)");  // new: +25 points
    CHECK(main_frame.fill == "rgb(245,245,245)");
    CHECK(svg.find("share grew") != std::string::npos);
    CHECK(svg.find("share shrank") != std::string::npos);
}

TEST_CASE("diff flame graph matches its golden file", "[diff][golden]") {
    const std::string golden = std::string(SAMPLER_SOURCE_DIR) + "/tests/unit/golden/diff_small.svg";
    const std::string svg = render_diff();
    CHECK(svg == render_diff()); // deterministic bytes
    const char* bless = std::getenv("SAMPLER_BLESS");
    if (bless && std::string(bless) == "1") {
        std::ofstream(golden, std::ios::binary | std::ios::trunc) << svg;
        WARN("rewrote " << golden);
    }
    const std::string expected = read_text(golden);
    REQUIRE_FALSE(expected.empty());
    CHECK(svg == expected);
}

TEST_CASE("flame graph of a folded file matches its golden file, inverted", "[flamegraph][golden]") {
    const std::string golden = std::string(SAMPLER_SOURCE_DIR) + "/tests/unit/golden/folded_inverted.svg";
    const FoldedInput input =
        read_folded("main;compute 4\nmain;parse (app.py:3) 2\nmain;sys_read_[k] 1\nmain;libx.so+0x10 1\n");
    FlamegraphOptions options;
    options.title = "golden";
    options.inverted = true;
    const std::string svg = render_flamegraph_svg(input.profile, options);
    const char* bless = std::getenv("SAMPLER_BLESS");
    if (bless && std::string(bless) == "1") {
        std::ofstream(golden, std::ios::binary | std::ios::trunc) << svg;
        WARN("rewrote " << golden);
    }
    const std::string expected = read_text(golden);
    REQUIRE_FALSE(expected.empty());
    CHECK(svg == expected);
}

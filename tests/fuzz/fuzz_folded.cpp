// Fuzz harness: folded-stack text (ours, perf + stackcollapse, py-spy raw) read back into a
// profile, as `sampler flamegraph` and `sampler diff` read it, and rendered as a flame graph.
// Anything but a result is a bug: a crash, a sanitizer report, an exception.

#include "flamegraph_svg.hpp"
#include "folded_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace sampler;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (!other_format(text).empty())
        return 0;
    FoldedInput input = read_folded(text);
    (void)guess_frame_kind(text.substr(0, text.find(';')));
    FlamegraphOptions options;
    (void)render_flamegraph_svg(input.profile, options);
    options.inverted = true;
    options.before = &input.profile; // a differential graph against itself
    (void)render_flamegraph_svg(input.profile, options);
    return 0;
}

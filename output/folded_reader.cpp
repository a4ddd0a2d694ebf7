#include "folded_reader.hpp"

#include <charconv>
#include <vector>

namespace sampler {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

// A Profile frame whose aggregate_label() is exactly `label`: the name carries it all.
Frame frame_for(std::string_view label) {
    Frame frame;
    frame.kind = guess_frame_kind(label);
    frame.name = std::string(label);
    return frame;
}

} // namespace

// Hand-written rather than std::regex: libstdc++'s regex recurses per character and a
// multi-kilobyte C++ template name could overflow the stack.
bool all_hex(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

// `name (path/file.py:N)`, the label sampler gives Python frames (py-spy's is the same shape).
bool is_python_label(std::string_view label) {
    if (!label.ends_with(')'))
        return false;
    const auto open = label.rfind(" (");
    if (open == std::string_view::npos)
        return false;
    const std::string_view inside = label.substr(open + 2, label.size() - open - 3);
    const auto colon = inside.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == inside.size())
        return false;
    const std::string_view file = inside.substr(0, colon);
    const std::string_view line = inside.substr(colon + 1);
    return (file.ends_with(".py") || file.ends_with(".pyw")) &&
           line.find_first_not_of("0123456789") == std::string_view::npos;
}

FrameKind guess_frame_kind(std::string_view label) {
    if (ends_with(label, "[k]"))
        return FrameKind::kernel; // perf's stackcollapse marks kernel frames "_[k]"
    if (label.starts_with("0x") && all_hex(label.substr(2)))
        return FrameKind::unknown;
    const auto plus = label.rfind("+0x");
    if (plus != std::string_view::npos && plus > 0 && all_hex(label.substr(plus + 3)) &&
        label.substr(0, plus).find(' ') == std::string_view::npos)
        return FrameKind::unknown;
    if (is_python_label(label))
        return FrameKind::python;
    return FrameKind::native;
}

FoldedInput read_folded(std::string_view text) {
    FoldedInput input;
    std::vector<FrameId> stack;
    std::uint64_t line_number = 0;
    auto malformed = [&input, &line_number] {
        ++input.malformed;
        if (input.first_malformed_line == 0)
            input.first_malformed_line = line_number;
    };
    while (!text.empty()) {
        const auto end = text.find('\n');
        const std::string_view line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++line_number;
        if (line.empty())
            continue;
        const auto space = line.find_last_of(" \t");
        if (space == std::string_view::npos) {
            malformed();
            continue;
        }
        const std::string_view count_text = line.substr(space + 1);
        const std::string_view frames = trim(line.substr(0, space));
        std::uint64_t count = 0;
        const auto [at, error] =
            std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
        if (error != std::errc{} || at != count_text.data() + count_text.size() || frames.empty()) {
            malformed();
            continue;
        }
        if (count > max_folded_samples - input.profile.tree.total()) {
            input.too_large_line = line_number;
            break;
        }
        ++input.lines;
        stack.clear();
        std::size_t start = 0;
        while (start <= frames.size()) {
            const auto semicolon = frames.find(';', start);
            const std::string_view label = frames.substr(
                start, semicolon == std::string_view::npos ? std::string_view::npos : semicolon - start);
            if (!label.empty()) // "a;;b" from some collapsers: skip the empty frame
                stack.push_back(input.profile.intern(frame_for(label)));
            if (semicolon == std::string_view::npos)
                break;
            start = semicolon + 1;
        }
        if (count > 0)
            input.profile.tree.add(stack, count);
    }
    input.profile.info.samples = input.profile.tree.total();
    return input;
}

std::string_view other_format(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    const std::string_view start = first == std::string_view::npos ? std::string_view{} : text.substr(first);
    if (start.starts_with("<?xml") || start.starts_with("<svg") || start.starts_with("<!DOCTYPE"))
        return "an SVG or XML file";
    if (text.starts_with("\x1f\x8b"))
        return "gzip-compressed (a pprof profile?)";
    // A frame name may start with `{` or `[` (Rust closures), but not with a quote or a newline
    // after it: those open JSON (sampler's speedscope and Chrome trace outputs among them).
    if (start.starts_with("{\"") || start.starts_with("{\n") || start.starts_with("[{") ||
        start.starts_with("[\n"))
        return "JSON (speedscope or a Chrome trace?)";
    return {};
}

} // namespace sampler

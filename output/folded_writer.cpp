#include "folded_writer.hpp"

#include <algorithm>
#include <vector>

namespace sampler {

std::string folded_field(const std::string& label) {
    std::string field = label;
    for (char& c : field) {
        if (c == ';')
            c = ':';
        else if (c == '\n' || c == '\r')
            c = ' ';
    }
    return field;
}

std::string render_folded(const Profile& profile) {
    std::vector<std::string> lines;
    profile.tree.for_each_stack([&](std::span<const FrameId> stack, std::uint64_t count) {
        if (stack.empty())
            return;
        std::string line;
        for (FrameId id : stack) {
            if (!line.empty())
                line += ';';
            line += folded_field(aggregate_label(profile.frames.at(id)));
        }
        line += ' ';
        line += std::to_string(count);
        lines.push_back(std::move(line));
    });
    // Sorted so the same profile always gives the same bytes (diffable, golden-testable).
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& line : lines) {
        out += line;
        out += '\n';
    }
    return out;
}

} // namespace sampler

#include "top_stalls.hpp"

#include "top_text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace sampler {
namespace {

struct Column {
    const char* title;
    std::size_t width;
};

// Numbers right-aligned under their titles, two spaces between, the culprit last.
constexpr std::array<Column, 3> columns{{{"Stalls", 6}, {"Blocked", 8}, {"Max", 8}}};
constexpr std::size_t blocked_column = 1;
constexpr std::size_t gap = 2;

std::string format(const char* pattern, auto... values) {
    char text[256];
    std::snprintf(text, sizeof text, pattern, values...);
    return text;
}

std::string line_of(const std::array<std::string, 3>& cells, const std::string& label) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i)
        line += right_aligned(cells[i], columns[i].width) + std::string(gap, ' ');
    return line + label;
}

} // namespace

std::string format_top_stall_line(const TopStallStatus& status) {
    if (!status.watching)
        return "";
    if (status.loops == 0)
        return "asyncio   no event loop with tasks found yet (CPython 3.8-3.13)";
    std::string text =
        format("asyncio   stalls %llu   longest ", static_cast<unsigned long long>(status.count));
    text += status.count > 0 ? format("%.0f ms", status.longest_ms) : std::string("-");
    text += format("   blocked %.1f%%", status.blocked_percent);
    if (status.loops > 1)
        text += format(" (the most blocked of %zu loops)", status.loops);
    return text + format("   (last window; stalls of %g ms or more)", status.threshold_ms);
}

std::vector<std::string> format_top_stall_table(const std::vector<TopStallRow>& rows, std::size_t width,
                                                std::size_t max_rows) {
    std::vector<std::string> lines;
    lines.push_back(fit_to_width(line_of({columns[0].title, columns[1].title, columns[2].title},
                                         "Culprit (task coroutine > innermost frame)"),
                                 width));
    const std::size_t count = max_rows ? std::min(max_rows, rows.size()) : rows.size();
    for (std::size_t i = 0; i < count; ++i) {
        const TopStallRow& row = rows[i];
        lines.push_back(fit_to_width(line_of({std::to_string(row.count), format("%.2fs", row.blocked_seconds),
                                              format("%.0f ms", row.max_ms)},
                                             printable(row.label)),
                                     width));
    }
    return lines;
}

std::pair<std::size_t, std::size_t> top_stall_column_span() {
    std::size_t start = 0;
    for (std::size_t i = 0; i < blocked_column; ++i)
        start += columns[i].width + gap;
    return {start, columns[blocked_column].width};
}

std::string top_stall_empty_message(const TopStallStatus& status) {
    if (status.loops == 0)
        return "(no asyncio event loop with tasks found yet: stalls are watched in CPython 3.8-3.13)";
    return format("(no stall of %g ms or more yet)", status.threshold_ms);
}

} // namespace sampler

#include "top_table.hpp"

#include "top_text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>

namespace sampler {
namespace {

// Column widths: the numbers are right-aligned under their headers, two spaces between.
constexpr std::array<std::size_t, 4> widths{6, 7, 10, 10};
constexpr std::array<const char*, 4> headers{"%Own", "%Total", "OwnTime", "TotalTime"};
constexpr std::size_t gap = 2;

void merge(std::unordered_map<TopLabelId, TopRow>& rows, const TopThreadMap& threads, const TopView& view,
           const TopSnapshot& snapshot, bool window) {
    for (const auto& [tid, thread] : threads) {
        if ((view.thread != 0 && tid != view.thread) || (view.process != 0 && thread.pid != view.process))
            continue;
        for (const auto& [id, count] : thread.counts(view.mode)) {
            TopRow& row = rows[id];
            if (row.label.empty())
                row.label = snapshot.label(id);
            (window ? row.window : row.accumulated).add(count);
        }
    }
}

// Descending keys: the chosen column, then the same measure over the other time span. Own
// sorts go on to the totals; total sorts stop there, so that equal totals fall to the depth
// tie-break and read as a call stack (`_start`, ..., `main`) instead of putting callees with
// own time first.
std::array<std::uint64_t, 4> sort_keys(const TopRow& row, TopSort sort) {
    const TopCount& window = row.window;
    const TopCount& accumulated = row.accumulated;
    switch (sort) {
    case TopSort::own:
        return {window.own, accumulated.own, window.total, accumulated.total};
    case TopSort::own_time:
        return {accumulated.own, window.own, accumulated.total, window.total};
    case TopSort::total:
        return {window.total, accumulated.total, 0, 0};
    case TopSort::total_time:
        return {accumulated.total, window.total, 0, 0};
    }
    return {};
}

std::string seconds(std::uint64_t count, double rate_hz) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2fs", rate_hz > 0 ? double(count) / rate_hz : 0.0);
    return text;
}

std::string line_of(const std::array<std::string, 4>& numbers, const std::string& label) {
    std::string line;
    for (std::size_t i = 0; i < numbers.size(); ++i)
        line += right_aligned(numbers[i], widths[i]) + std::string(gap, ' ');
    return line + label;
}

} // namespace

std::vector<TopRow> build_top_rows(const TopSnapshot& snapshot, const TopView& view) {
    std::unordered_map<TopLabelId, TopRow> merged;
    merge(merged, snapshot.window, view, snapshot, true);
    merge(merged, snapshot.accumulated, view, snapshot, false);
    std::vector<TopRow> rows;
    rows.reserve(merged.size());
    for (auto& [id, row] : merged)
        rows.push_back(std::move(row));
    std::sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
        auto keys_a = sort_keys(a, view.sort);
        auto keys_b = sort_keys(b, view.sort);
        if (keys_a != keys_b)
            return keys_a > keys_b;
        if (a.accumulated.depth != b.accumulated.depth)
            return a.accumulated.depth < b.accumulated.depth;
        return a.label < b.label;
    });
    return rows;
}

std::vector<std::string> format_top_table(const std::vector<TopRow>& rows, const TopTableFormat& format) {
    std::vector<std::string> lines;
    std::array<std::string, 4> titles{headers[0], headers[1], headers[2], headers[3]};
    lines.push_back(fit_to_width(line_of(titles, "Function (file:line)"), format.width));
    std::size_t count = format.max_rows ? std::min(format.max_rows, rows.size()) : rows.size();
    for (std::size_t i = 0; i < count; ++i) {
        const TopRow& row = rows[i];
        std::array<std::string, 4> numbers{format_percent(row.window.own, format.window_rounds),
                                           format_percent(row.window.total, format.window_rounds),
                                           seconds(row.accumulated.own, format.rate_hz),
                                           seconds(row.accumulated.total, format.rate_hz)};
        lines.push_back(fit_to_width(line_of(numbers, printable(row.label)), format.width));
    }
    return lines;
}

std::pair<std::size_t, std::size_t> top_column_span(TopSort sort) {
    std::size_t column = static_cast<std::size_t>(sort) - 1;
    std::size_t start = 0;
    for (std::size_t i = 0; i < column; ++i)
        start += widths[i] + gap;
    return {start, widths[column]};
}

const char* top_sort_name(TopSort sort) {
    return headers[static_cast<std::size_t>(sort) - 1];
}

} // namespace sampler

namespace sampler {

std::string top_empty_message(const TopSnapshot& snapshot) {
    if (snapshot.accumulated_rounds == 0)
        return "(collecting samples until the next refresh...)";
    return "(no stacks: no thread was running in the target; --idle also samples sleeping threads)";
}

} // namespace sampler

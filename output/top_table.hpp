#pragma once
// The rows of `sampler top`: counts of a snapshot merged over the chosen threads, sorted by the
// chosen column, and formatted as fixed-width text lines. Pure: no terminal, no process.

#include "top_counts.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sampler {

// The sortable columns, numbered as the keys 1-4 that select them.
enum class TopSort : std::uint8_t { own = 1, total = 2, own_time = 3, total_time = 4 };

struct TopView {
    TopMode mode = TopMode::function;
    TopSort sort = TopSort::own;
    int thread = 0;  // 0: all threads; else only this TID
    int process = 0; // 0: all processes; else only this PID's threads
    // The process table (key W) instead of the function table, its own sort (keys 1-4 there),
    // and the PID of its highlighted row (0: the first row).
    bool by_process = false;
    TopSort process_sort = TopSort::own;
    int selected = 0;
    // The stall culprits (key S, with --asyncio) instead of either table.
    bool stalls = false;
};

struct TopRow {
    std::string label{};
    TopCount window{};      // last refresh window: %Own, %Total
    TopCount accumulated{}; // since start or reset: OwnTime, TotalTime
};

// One row per label seen in the view (window or accumulated), sorted descending by the chosen
// column; ties go to the same measure over the other time span (own sorts then to the totals),
// then callers first (TopCount::depth), then by label, so the order is stable.
std::vector<TopRow> build_top_rows(const TopSnapshot& snapshot, const TopView& view);

struct TopTableFormat {
    std::uint64_t window_rounds = 0; // denominator of the shares
    double rate_hz = 100;            // requested rate: samples / rate = seconds
    std::size_t width = 0;           // columns per line; 0: no limit
    std::size_t max_rows = 0;        // 0: no limit
};

// The column header line, then one line per row (at most max_rows), each within `width`.
std::vector<std::string> format_top_table(const std::vector<TopRow>& rows, const TopTableFormat& format);

// Where the column `sort` sits in the header line (first column, columns), to highlight it.
std::pair<std::size_t, std::size_t> top_column_span(TopSort sort);

const char* top_sort_name(TopSort sort);

} // namespace sampler

namespace sampler {

// What to show instead of rows when a view has none.
std::string top_empty_message(const TopSnapshot& snapshot);

} // namespace sampler

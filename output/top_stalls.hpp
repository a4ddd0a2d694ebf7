#pragma once
// `sampler top --asyncio`: the header's line on the event-loop stalls of the last refresh window,
// and the table of stall culprits (key S). Pure: no terminal, no process.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sampler {

struct TopStallStatus {
    bool watching = false; // --asyncio
    double threshold_ms = 100;
    std::size_t loops = 0; // loop threads found so far
    // The last window: stalls that ended in it or were still running at its end, the longest of
    // them, and the share of the window the most-blocked loop spent in stalls.
    std::uint64_t count = 0;
    double longest_ms = 0;
    double blocked_percent = 0;
};

struct TopStallRow {
    std::string label{}; // the culprit: task, coroutine (file:line) > innermost frame
    std::uint64_t count = 0;
    double blocked_seconds = 0; // all its stalls' time
    double max_ms = 0;          // its longest stall
};

// "asyncio   stalls 2   longest 212 ms   blocked 28.4%   (last window; stalls of 100 ms or
// more)"; empty when not watching.
std::string format_top_stall_line(const TopStallStatus& status);

// The column titles, then one line per row (at most max_rows; 0: no limit), each within `width`
// (0: no limit). Rows come sorted by blocked time.
std::vector<std::string> format_top_stall_table(const std::vector<TopStallRow>& rows, std::size_t width,
                                                std::size_t max_rows);

// Where the sorted column (Blocked) sits in the title line (first column, columns).
std::pair<std::size_t, std::size_t> top_stall_column_span();

// What the table shows instead of rows when it has none.
std::string top_stall_empty_message(const TopStallStatus& status);

} // namespace sampler

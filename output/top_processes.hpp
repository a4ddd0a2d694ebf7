#pragma once
// The process table of `sampler top` (key W, --by-process): one row per process, for worker
// pools (gunicorn, uvicorn --workers, multiprocessing) where the question is which worker burns
// the CPU. Pure: rows come from a snapshot's per-thread counts.

#include "top_counts.hpp"
#include "top_table.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sampler {

struct TopProcessCount {
    std::uint64_t samples = 0; // stacks, --idle's sleeping ones included
    std::uint64_t on_cpu = 0;  // stacks of threads sampled while they ran
    std::uint64_t gil = 0;     // on-CPU stacks of a thread holding the GIL
    std::size_t threads = 0;   // threads with a stack
};

struct TopProcessRow {
    int pid = 0;
    std::string command{};
    bool python = false;
    TopProcessCount window{};      // the last refresh window: %CPU, Threads, %GIL, %OnCPU
    TopProcessCount accumulated{}; // since the start or R: %Avg
    // The function with the most own samples in the window (since the start when the window
    // has none); empty when the process has no stack at all.
    std::string hottest{};
};

// One row per process the snapshot knows (sampled now, or with counts), sorted descending by
// the column `sort` selects (keys 1-4: %CPU, %Avg, Threads, %GIL), then by on-CPU samples in
// the window and since the start, then by PID, so the order is stable.
std::vector<TopProcessRow> build_top_process_rows(const TopSnapshot& snapshot, TopSort sort);

struct TopProcessTableFormat {
    std::uint64_t window_rounds = 0;      // denominator of %CPU and %GIL
    std::uint64_t accumulated_rounds = 0; // denominator of %Avg
    bool idle = false;                    // --idle: add each process's on-CPU and sleeping shares
    std::size_t width = 0;                // columns per line; 0: no limit
    std::size_t max_rows = 0;             // 0: no limit
};

// The column header line, then one line per row (at most max_rows), each within `width`. The
// command is abridged to a fixed column so that the function after it lines up.
std::vector<std::string> format_top_process_table(const std::vector<TopProcessRow>& rows,
                                                  const TopProcessTableFormat& format);

// Where the column `sort` selects sits in the header line (first column, columns).
std::pair<std::size_t, std::size_t> top_process_column_span(TopSort sort);

const char* top_process_sort_name(TopSort sort);

// The position of `pid`'s row; 0 when it has none.
std::size_t top_process_index(const std::vector<TopProcessRow>& rows, int pid);

} // namespace sampler

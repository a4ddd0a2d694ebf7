#include "top_processes.hpp"

#include "top_text.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

namespace sampler {
namespace {

struct Column {
    const char* title;
    std::size_t width;
};

// Numbers right-aligned under their titles; the command left-aligned in a fixed column (it is
// the same for every worker of a pool that does not set its title: the PID tells them apart).
constexpr std::array<Column, 5> numeric{{{"PID", 7}, {"%CPU", 6}, {"%Avg", 6}, {"Threads", 7}, {"%GIL", 6}}};
constexpr std::array<Column, 2> idle_columns{{{"%OnCPU", 6}, {"%Sleep", 6}}};
constexpr std::size_t command_width = 30;
constexpr std::size_t gap = 2;

void add_thread(TopProcessCount& count, const TopThreadCounts& thread) {
    count.samples += thread.samples;
    count.on_cpu += thread.on_cpu;
    count.gil += thread.gil;
    ++count.threads;
}

// The label with the most own samples on a CPU over the process's threads; a process that was
// never on a CPU (--idle) by its sleeping ones: where it waits. Ties: the smaller label.
std::string hottest_of(const TopThreadMap& threads, int pid, const TopSnapshot& snapshot) {
    std::unordered_map<TopLabelId, std::pair<std::uint64_t, std::uint64_t>> own; // (on CPU, all)
    for (const auto& [tid, thread] : threads)
        if (thread.pid == pid)
            for (const auto& [id, count] : thread.counts(TopMode::function))
                if (count.own > 0) {
                    own[id].first += count.own_on_cpu;
                    own[id].second += count.own;
                }
    const std::string* best = nullptr;
    std::pair<std::uint64_t, std::uint64_t> best_own{0, 0};
    for (const auto& [id, count] : own) {
        const std::string& label = snapshot.label(id);
        if (!best || count > best_own || (count == best_own && label < *best)) {
            best = &label;
            best_own = count;
        }
    }
    return best ? *best : std::string();
}

// Descending keys: the chosen column, then on-CPU samples in the window and since the start.
std::array<std::uint64_t, 3> sort_keys(const TopProcessRow& row, TopSort sort) {
    const std::uint64_t window = row.window.on_cpu, accumulated = row.accumulated.on_cpu;
    switch (sort) {
    case TopSort::own:
        return {window, accumulated, 0};
    case TopSort::total:
        return {accumulated, window, 0};
    case TopSort::own_time:
        return {row.window.threads, window, accumulated};
    case TopSort::total_time:
        return {row.window.gil, window, accumulated};
    }
    return {};
}

// A share in percent with one decimal; a share too small to show as 0.1 but not zero reads
// "<0.1", so a worker that ran at all never looks as if it had not.
std::string share(std::uint64_t count, std::uint64_t of) {
    if (count > 0 && of > 0 && 1000.0 * double(count) < 0.5 * double(of))
        return "<0.1";
    return format_percent(count, of);
}

std::string numbers_line(const std::vector<std::string>& numbers, bool idle) {
    std::string line;
    std::size_t i = 0;
    for (const Column& column : numeric)
        line += right_aligned(numbers[i++], column.width) + std::string(gap, ' ');
    if (idle)
        for (const Column& column : idle_columns)
            line += right_aligned(numbers[i++], column.width) + std::string(gap, ' ');
    return line;
}

std::string command_cell(const std::string& command) {
    std::string text = fit_to_width(printable(command), command_width);
    return text + std::string(command_width - display_width(text) + gap, ' ');
}

} // namespace

std::vector<TopProcessRow> build_top_process_rows(const TopSnapshot& snapshot, TopSort sort) {
    std::map<int, TopProcessRow> by_pid;
    for (const auto& [pid, command] : snapshot.processes) {
        TopProcessRow& row = by_pid[pid];
        row.pid = pid;
        row.command = command;
    }
    for (const auto& [tid, thread] : snapshot.accumulated) {
        TopProcessRow& row = by_pid[thread.pid];
        row.pid = thread.pid;
        row.python = row.python || thread.python;
        add_thread(row.accumulated, thread);
    }
    for (const auto& [tid, thread] : snapshot.window) {
        TopProcessRow& row = by_pid[thread.pid];
        row.pid = thread.pid;
        row.python = row.python || thread.python;
        add_thread(row.window, thread);
    }
    std::vector<TopProcessRow> rows;
    rows.reserve(by_pid.size());
    for (auto& [pid, row] : by_pid) {
        row.hottest = hottest_of(snapshot.window, pid, snapshot);
        if (row.hottest.empty())
            row.hottest = hottest_of(snapshot.accumulated, pid, snapshot);
        rows.push_back(std::move(row));
    }
    std::stable_sort(rows.begin(), rows.end(), [&](const TopProcessRow& a, const TopProcessRow& b) {
        return sort_keys(a, sort) > sort_keys(b, sort); // by_pid gave them in PID order
    });
    return rows;
}

std::vector<std::string> format_top_process_table(const std::vector<TopProcessRow>& rows,
                                                  const TopProcessTableFormat& format) {
    std::vector<std::string> titles;
    for (const Column& column : numeric)
        titles.emplace_back(column.title);
    for (const Column& column : idle_columns)
        titles.emplace_back(column.title);
    std::vector<std::string> lines;
    lines.push_back(fit_to_width(
        numbers_line(titles, format.idle) + command_cell("Command") + "Hottest function", format.width));
    std::size_t count = format.max_rows ? std::min(format.max_rows, rows.size()) : rows.size();
    for (std::size_t i = 0; i < count; ++i) {
        const TopProcessRow& row = rows[i];
        const TopProcessCount& window = row.window;
        std::vector<std::string> numbers{std::to_string(row.pid),
                                         share(window.on_cpu, format.window_rounds),
                                         share(row.accumulated.on_cpu, format.accumulated_rounds),
                                         std::to_string(window.threads),
                                         row.python ? share(window.gil, format.window_rounds) : "-",
                                         share(window.on_cpu, window.samples),
                                         share(window.samples - window.on_cpu, window.samples)};
        if (format.idle && window.samples == 0)
            numbers[5] = numbers[6] = "-";
        std::string hottest = row.hottest.empty() ? "-" : printable(row.hottest);
        lines.push_back(fit_to_width(numbers_line(numbers, format.idle) + command_cell(row.command) + hottest,
                                     format.width));
    }
    return lines;
}

std::pair<std::size_t, std::size_t> top_process_column_span(TopSort sort) {
    // Keys 1-4 select the columns after PID.
    std::size_t column = static_cast<std::size_t>(sort);
    std::size_t start = 0;
    for (std::size_t i = 0; i < column; ++i)
        start += numeric[i].width + gap;
    return {start, numeric[column].width};
}

const char* top_process_sort_name(TopSort sort) {
    return numeric[static_cast<std::size_t>(sort)].title;
}

std::size_t top_process_index(const std::vector<TopProcessRow>& rows, int pid) {
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (rows[i].pid == pid)
            return i;
    return 0;
}

} // namespace sampler

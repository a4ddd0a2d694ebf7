#pragma once
// The header of `sampler top`: what is profiled, how well sampling keeps up, and what the table
// shows. Pure: the screen and the plain-text output print the same lines.

#include "top_processes.hpp"
#include "top_stalls.hpp"
#include "top_table.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sampler {

struct TopStatus {
    std::vector<int> pids{}; // the targets (--pid A,B,C)
    std::string command_line{};
    double elapsed_seconds = 0;
    double counting_seconds = -1; // since the last reset; negative when never reset
    std::uint64_t samples = 0;    // sampling rounds
    double achieved_rate_hz = -1; // over the last window; negative before the first one
    // perf_event engine, over the last window: samples received / the samples the threads' CPU
    // time called for, in percent. Negative when unknown (ptrace engine, or too few samples).
    double kept_percent = -1;
    double requested_rate_hz = 100;
    std::uint64_t errors = 0;
    std::uint64_t thread_samples = 0;
    std::size_t threads_sampled = 0; // distinct threads with a stack in the last window
    std::size_t processes = 1;       // processes sampled (more with --subprocesses)
    std::string python_version{};    // the target's CPython version; empty when not Python
    double gil_percent = 0;          // Python: rounds in which some thread held the GIL
    double active_percent = 0;       // Python: rounds in which some sampled thread was running
    TopStallStatus stalls{};         // --asyncio: the event loops' stalls in the last window
    TopView view{};
    std::string thread_label{};  // "all threads" or "thread TID (name), i of n"
    std::string process_label{}; // "process PID (command), i of n"; empty for all processes
    bool idle = false;           // --idle: the process table shows on-CPU and sleeping shares
    double delay_seconds = 1;
    bool paused = false;
    bool interactive = false; // key hints only make sense on the screen
};

enum class TopLineStyle : std::uint8_t { normal, title, warning };

struct TopLine {
    std::string text;
    TopLineStyle style = TopLineStyle::normal;
};

// Sampling is behind when it achieves less than 90% of the requested rate.
bool top_behind_rate(double achieved_hz, double requested_hz);

// Errors as a share of attempted thread samples (errors + stacks), in percent.
double top_error_percent(std::uint64_t errors, std::uint64_t thread_samples);

// Title, statistics, the stalls (--asyncio), view, and a warning line (empty unless behind or
// paused; left out of non-interactive output when empty). Each line fits `width` (0: no limit).
std::vector<TopLine> format_top_header(const TopStatus& status, std::size_t width);

} // namespace sampler

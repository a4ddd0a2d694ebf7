#pragma once
// The subcommands, each independent of how its options were parsed.

#include "process_sampler.hpp"
#include "sampling_session.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace sampler {

struct TargetOptions {
    std::vector<int> pids;                            // --pid A,B,C: running processes, each a root
    std::vector<std::string> command;                 // `-- COMMAND ARGS...`: start it and profile it
    StackOptions stacks;                              // what to read of each thread, and which threads
    bool subprocesses = false;                        // also profile descendant processes
    CaptureChoice capture = CaptureChoice::automatic; // --capture
};

// --asyncio and what it shares between `record` and `top`.
struct StallOptions {
    bool asyncio = false; // watch asyncio event loops for stalls
    double stall_threshold_ms = 100;
};

struct RecordOptions {
    TargetOptions target;
    std::string output; // empty: sampler-PID-TIMESTAMP.svg/.txt; "-": stdout
    std::string format = "flamegraph";
    double rate_hz = 100;
    double duration_seconds = 0;
    bool thread_roots = false;
    bool task_roots = false; // --tasks: a root per asyncio task on event-loop threads
    std::string title;
    bool inverted = false;         // flamegraph: icicle graph, root at the top
    double min_width_pixels = 0.1; // flamegraph: frames narrower than this are left out
    StallOptions stalls;
    std::string stalls_file; // --stalls: JSON lines, one per stall; "-": stdout
    bool stalls_only = false;
};

// Options of the flame graph renderers, shared by `flamegraph` and `diff`.
struct RenderOptions {
    std::string output = "-"; // "-": stdout
    std::string title;
    bool inverted = false;
    double min_width_pixels = 0.1;
};

struct FlamegraphCommandOptions {
    std::string input; // folded stacks; "-": stdin
    RenderOptions render;
};

struct DiffOptions {
    std::string before; // folded stacks; "-" for stdin in at most one of the two
    std::string after;
    RenderOptions render;
};

struct DumpOptions {
    TargetOptions target; // --native, --full-filenames, --nonblocking apply; the filters do not
    bool json = false;
    bool tasks = false; // asyncio tasks instead of thread stacks
};

struct TopOptions {
    TargetOptions target;
    double rate_hz = 100;
    double delay_seconds = 1; // between refreshes of the table
    std::size_t rows = 20;    // rows per snapshot when stdout is not a terminal
    bool once = false;        // print one snapshot after --delay seconds and exit
    bool by_process = false;  // start in the process table (key W)
    StallOptions stalls;
};

int run_record(const RecordOptions& options);
int run_dump(const DumpOptions& options);
int run_dump_tasks(const DumpOptions& options); // dump --tasks
int run_top(const TopOptions& options);

// Shared by `flamegraph` and `diff` (defined in flamegraph_command.cpp).
struct FoldedInput;
struct FlamegraphOptions;
// Malformed lines are reported on stderr; throws sampler::Error (io) when nothing usable was read.
FoldedInput read_folded_file(const std::string& path);
FlamegraphOptions flamegraph_options(const RenderOptions& render, const std::string& default_title);

int run_flamegraph(const FlamegraphCommandOptions& options);
int run_diff(const DiffOptions& options);

} // namespace sampler

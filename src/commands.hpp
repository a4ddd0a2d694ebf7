#pragma once
// The subcommands, each independent of how its options were parsed.

#include "process_sampler.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace sampler {

struct TargetOptions {
    int pid = 0;
    std::vector<std::string> command; // `-- COMMAND ARGS...`: start it and profile it
    StackOptions stacks;              // what to read of each thread, and which threads
    bool subprocesses = false;        // also profile descendant processes
};

struct RecordOptions {
    TargetOptions target;
    std::string output; // empty: sampler-PID-TIMESTAMP.svg/.txt; "-": stdout
    std::string format = "flamegraph";
    double rate_hz = 100;
    double duration_seconds = 0;
    bool thread_roots = false;
    std::string title;
};

struct DumpOptions {
    TargetOptions target; // --native, --full-filenames, --nonblocking apply; the filters do not
    bool json = false;
};

struct TopOptions {
    TargetOptions target;
    double rate_hz = 100;
    double delay_seconds = 1; // between refreshes of the table
    std::size_t rows = 20;    // rows per snapshot when stdout is not a terminal
    bool once = false;        // print one snapshot after --delay seconds and exit
};

int run_record(const RecordOptions& options);
int run_dump(const DumpOptions& options);
int run_top(const TopOptions& options);

} // namespace sampler

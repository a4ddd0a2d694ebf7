#pragma once
// The subcommands, each independent of how its options were parsed.

#include <cstddef>
#include <string>
#include <vector>

namespace sampler {

struct TargetOptions {
    int pid = 0;
    std::vector<std::string> command; // `-- COMMAND ARGS...`: start it and profile it
    std::size_t max_stack_bytes = 64 * 1024;
    std::size_t max_depth = 1024;
};

struct RecordOptions {
    TargetOptions target;
    std::string output; // empty: sampler-PID-TIMESTAMP.svg/.txt; "-": stdout
    std::string format = "flamegraph";
    double rate_hz = 100;
    double duration_seconds = 0;
    bool thread_roots = false;
    bool include_idle = false;
    std::string title;
};

struct DumpOptions {
    TargetOptions target;
};

int run_record(const RecordOptions& options);
int run_dump(const DumpOptions& options);

} // namespace sampler

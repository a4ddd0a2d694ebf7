#pragma once
// The per-process lines at the end of `record` with several processes (--subprocesses, or
// --pid A,B,C): which process had the samples and how much CPU each used. Pure.

#include "sampler/profile.hpp"

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace sampler {

// One line per process, most on-CPU samples first (then most samples, then by PID):
// "process PID (command): N samples, X% CPU", where X is the process's on-CPU samples over
// `periods` (100 = one CPU all the time). At most `max_lines` lines: with more processes, the
// last line sums the rest ("K more processes: ..."). Commands are cut to a readable length.
std::vector<std::string> format_process_summary(const std::map<int, ProcessRecord>& processes, double periods,
                                                std::size_t max_lines = 20);

} // namespace sampler

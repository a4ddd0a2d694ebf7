#pragma once
// Sampling clocks of one CPU each (cpu-clock, pid -1): they sample whatever runs on their CPU,
// and the Python walker attached to them drops every process but the targets (returning 0: no
// record). A target's context switches then move none of our sampling events: a per-thread clock
// is switched out and in with its thread, about 1.2 us per switch on this VM (bench/run.sh
// switches), and a per-CPU one keeps running. Opening them needs CAP_PERFMON (or root, or
// kernel.perf_event_paranoid <= 0).

#include "perf_ring.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace sampler {

// Whether sampler runs in the initial PID namespace (/proc/self/status has one id in `NSpid:`):
// the BPF program sees the kernel's pids, which are sampler's own only there.
bool in_initial_pid_namespace();

// The CPUs online now, from /sys/devices/system/cpu/online ("0-3,5"); empty when unreadable.
std::vector<int> online_cpus();
// Parses such a list; empty when malformed.
std::vector<int> parse_cpu_list(const std::string& text);

// A clock's period, redrawn every so often so that it cannot line up with periodic work in the
// target: the draw in force and what the draws so far gave beyond the mean (see PerfCapture).
struct ClockPeriod {
    std::uint64_t samples = 0;  // taken by this clock of its own target (not of inherited copies)
    double mirrored_offset = 0; // the next period's offset from the mean, when not drawn anew
    bool draw_next = true;
    // The period set last (0: none yet, the mean), `samples` then, and how many samples the
    // periods so far gave beyond what the CPU time they covered called for at the mean.
    double period_ns = 0;
    std::uint64_t samples_at_period = 0;
    double samples_ahead = 0;
    std::uint64_t last_sample_ns = 0; // CLOCK_MONOTONIC, of the latest sample counted (walked clocks)
};

struct CpuClock {
    int cpu = 0;
    PerfEventFile event;
    PerfRing ring;
    ClockPeriod period;
};

// One clock on each online CPU with `attr`, each with a ring of `ring_pages` (halved down to
// `smallest_pages` while over the locked-memory limit) and `program_fd` attached. Empty, with
// `error` (an errno) and `why` (a sentence), when the kernel refuses one.
std::vector<CpuClock> open_cpu_clocks(const perf_event_attr& attr, std::size_t ring_pages,
                                      std::size_t smallest_pages, int program_fd, int& error,
                                      std::string& why);

// A bell on one CPU: a poll on its event wakes at every task record (fork, exit) of any process
// there. Following children, sampler wakes as a target forks and makes the child a target then,
// not at its next look at the rings (up to a quarter of a second later, when only a full ring
// or the walker wakes it), which a short-lived child may not outlive. Its records are read
// from the clocks' rings; its own are thrown away, only so that it keeps ringing.
struct ForkBell {
    int cpu = 0;
    PerfEventFile event;
    PerfRing ring;
};

// One bell on each of `cpus`; empty, with `error` (an errno), when the kernel refuses one.
std::vector<ForkBell> open_fork_bells(const std::vector<int>& cpus, int& error);

} // namespace sampler

#pragma once
// The CPU time of whole processes, from /proc/PID/stat (utime + stime: the kernel's precise
// runtime, in clock ticks), for the kept share where no event of ours counts each thread's time
// (clocks per CPU alone). Read when asked and at most once a second between asks; a process
// that exited (and was reaped) before a reading keeps what its last reading said, so up to a
// second of its time goes uncounted: its samples taken after that reading are then left out of
// the kept share too (uncovered_samples), so that samples and time cover the same span.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sampler {

struct ProcessCpuReading {
    std::uint64_t cpu_ns = 0;     // utime + stime, in nanoseconds
    std::uint64_t start_time = 0; // field 22: tells a reused pid from the process we knew
};
// Parses /proc/PID/stat's text; nullopt when malformed.
std::optional<ProcessCpuReading> parse_process_cpu(const std::string& stat_text, long ticks_per_second);

class ProcessCpuTimes {
  public:
    // Counts `pid` from now on, or with `since_fork` all its time (a child sampled from its
    // fork). Adding a pid already counted changes nothing. False when it is gone already.
    bool add(int pid, bool since_fork = false);
    // Reads every live process again (or one).
    void refresh();
    void refresh(int pid);
    // Reads again when the last reading is older than a second.
    void refresh_now_and_then(std::uint64_t now_ns);
    // The processes found gone (exited and reaped, or the pid reused) since the last call.
    std::vector<int> take_gone() { return std::exchange(gone_, {}); }
    // CPU time used since each was added, exited processes included, as last read.
    std::uint64_t total_ns() const;
    // A sample of `pid` taken at `time_ns` (CLOCK_MONOTONIC): covered by the time total_ns()
    // counts once a reading of `pid` made after it succeeds.
    void note_sample(int pid, std::uint64_t time_ns);
    // Samples of ended processes taken after their last reading: no time counted covers them.
    std::uint64_t uncovered_samples() const { return uncovered_; }

  private:
    struct Counted {
        std::uint64_t start_time = 0;
        std::uint64_t baseline_ns = 0; // its time when added
        std::uint64_t last_ns = 0;     // its time when last read
        std::uint64_t read_at_ns = 0;  // when (CLOCK_MONOTONIC, just before the read)
        std::uint64_t pending = 0;     // samples taken after that, not yet covered
        std::uint64_t used_ns() const;
    };
    // It is gone: its time stays as last read, its samples since are not covered.
    void retire(int pid, const Counted& counted);
    std::optional<ProcessCpuReading> read(int pid) const;
    // Reads one again and steps past it; false (and it is retired) when it is gone.
    bool read_again(std::unordered_map<int, Counted>::iterator& it);
    std::unordered_map<int, Counted> processes_; // live, as far as the last reading knows
    std::uint64_t retired_ns_ = 0;               // what exited processes used
    // When each retired process was last read, for its samples drained after it was found gone
    // (bounded: cleared past max_retired).
    std::unordered_map<int, std::uint64_t> retired_read_at_;
    static constexpr std::size_t max_retired = 4096;
    std::uint64_t uncovered_ = 0;
    std::vector<int> gone_;
    std::uint64_t refreshed_ns_ = 0;
};

} // namespace sampler

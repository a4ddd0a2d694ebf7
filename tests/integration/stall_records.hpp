#pragma once
// What the `record --asyncio` tests share: a recording of a fixture's stalls (the --stalls JSON
// lines, the stderr lines, the folded profile), the blocks a fixture says it made, and the check
// that the stderr lines and the JSON lines tell the same stalls.

#include "process_helpers.hpp"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sampler::testing {

constexpr double stall_rate_hz = 100;
constexpr double stall_interval_ms = 1000 / stall_rate_hz;

struct RecordedStalls {
    CommandResult result;
    std::vector<nlohmann::json> stalls; // the --stalls file's lines
    std::string folded;
};

// `record --asyncio --capture ENGINE --pid PID -r 100 -d 5 -f folded --stalls FILE`, then `extra`.
RecordedStalls record_stalls(int pid, const std::string& engine, const std::vector<std::string>& extra = {});

// The stderr lines "sampler: stall N ms  ...", in order.
std::vector<std::string> stall_lines(const std::string& err);

// A block of the event loop a fixture made and measured itself, from its "made NAME SECONDS
// [START]" lines (START: time.time() when it began).
struct MadeBlock {
    std::string name;
    double seconds = 0;
    std::optional<double> start;
};
std::vector<MadeBlock> made_blocks(const std::string& output);

// One sample interval + 10% of `block`.
double stall_tolerance_ms(const MadeBlock& block);
// Whether `duration_ms` is within stall_tolerance_ms() of `block`.
bool stall_matches(double duration_ms, const MadeBlock& block);

// How long a thread waited for a CPU (runnable, not running: the run delay of
// /proc/PID/task/TID/schedstat), read every 5 ms on a thread of the test's own while it lives. On a
// loaded machine any callback of a loop can last 100 ms and more (a stall sampler rightly tells,
// but no fault of the code that ran), and sampler itself, waiting to run, looks less often.
class RunDelayMonitor {
  public:
    // The thread `tid` of process `pid`.
    RunDelayMonitor(int pid, int tid);
    // The main thread of this process's child whose /proc/PID/comm is `child_comm` (the sampler a
    // test runs), looked for again whenever there is none.
    explicit RunDelayMonitor(const std::string& child_comm);
    ~RunDelayMonitor();
    RunDelayMonitor(const RunDelayMonitor&) = delete;
    RunDelayMonitor& operator=(const RunDelayMonitor&) = delete;

    // Seconds the thread waited for a CPU between `from` and `to` (wall clock, Unix seconds), at
    // most: from the last reading at or before `from` to the first at or after `to`; 0 when it was
    // not watched over all of that.
    double waited(double from, double to) const;

  private:
    struct Reading {
        double time = 0;      // Unix seconds
        double run_delay = 0; // seconds, since the thread began
        int thread = 0;       // which one: the counts of two are not comparable
    };
    void start(std::function<int()> find); // `find`: the tid to read, 0 for none now

    std::function<std::string(int)> path_;
    mutable std::mutex mutex_;
    std::vector<Reading> readings_;
    std::atomic<bool> stop_{false};
    std::thread reader_;
};

// CHECKs that the stderr lines and the JSON lines tell the same stalls in the same order (the
// duration, the culprit, the innermost frame), and that the summary counts them.
void check_lines_agree(const RecordedStalls& recorded);

} // namespace sampler::testing

#pragma once
// What `sampler top` counts: for each thread and each row label, the samples in which the label
// was the innermost frame (own) and those in which it was anywhere on the stack (total), over
// the current refresh window and since the start (or the last reset). Both aggregation modes
// (by function and by line) are counted at once, so switching between them shows full history.

#include "top_stalls.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sampler {

enum class TopMode : std::uint8_t { function = 0, line = 1 };

// The row labels of one frame in each mode.
struct TopFrameLabels {
    std::string function;
    std::string line;
};

struct TopCount {
    std::uint64_t own = 0;
    std::uint64_t total = 0;      // a label counts once per sample, however often it recurs
    std::uint64_t own_on_cpu = 0; // own samples taken on a CPU (--idle also counts sleeping ones)
    // Fewest frames seen between the outermost frame and this label: among rows with equal
    // counts, callers then sort before callees (with %Total, `_start` before `main`).
    std::uint32_t depth = UINT32_MAX;

    void add(const TopCount& other);
};

using TopLabelId = std::uint32_t;
using TopCountMap = std::unordered_map<TopLabelId, TopCount>;

// Whose stack a sample is, and how it was sampled.
struct TopStackInfo {
    int pid = 0;
    int tid = 0;
    std::string name{};
    bool on_cpu = true;     // sampled while it ran (not one of --idle's sleeping stacks)
    bool holds_gil = false; // Python: it held the GIL
    bool python = false;    // it has Python frames
};

struct TopThreadCounts {
    int pid = 0; // the process it belongs to
    std::string name{};
    std::uint64_t samples = 0;          // stacks of this thread
    std::uint64_t on_cpu = 0;           // ... sampled while it ran
    std::uint64_t gil = 0;              // ... on its CPU, holding the GIL
    bool python = false;                // some stack had Python frames
    std::array<TopCountMap, 2> modes{}; // indexed by TopMode

    const TopCountMap& counts(TopMode mode) const { return modes[static_cast<std::size_t>(mode)]; }
};

using TopThreadMap = std::map<int, TopThreadCounts>; // by TID

// A finished refresh window plus everything accumulated up to its end. A value: it stays valid
// (e.g. while the display is paused) however the counter goes on.
struct TopSnapshot {
    std::shared_ptr<const std::vector<std::string>> labels{}; // indexed by TopLabelId
    TopThreadMap window{};
    TopThreadMap accumulated{};
    std::uint64_t window_rounds = 0; // sampling rounds over the threads in the window
    std::uint64_t accumulated_rounds = 0;
    // PID -> command line: the processes sampled at the window's end, and earlier ones with
    // counts (filled in by whoever knows the processes; the counter does not).
    std::map<int, std::string> processes{};
    // --asyncio: the stall culprits up to the window's end, by blocked time (filled in by whoever
    // watches the stalls).
    std::vector<TopStallRow> stall_culprits{};

    const std::string& label(TopLabelId id) const { return (*labels)[id]; }
};

class TopCounter {
  public:
    TopCounter();

    void add_stack(const TopStackInfo& stack, const std::vector<TopFrameLabels>& innermost_first);
    // Rounds happen even when no thread was running; they are the denominator of the shares.
    void add_rounds(std::uint64_t rounds) { window_rounds_ += rounds; }
    // Ends the current window: folds it into the accumulated counts and returns both.
    TopSnapshot end_window();
    // Forgets every count (labels stay interned).
    void reset();

  private:
    TopLabelId intern(const std::string& label);
    void count(TopCountMap& counts, TopLabelId id, bool innermost, bool on_cpu, std::uint32_t depth);

    std::shared_ptr<std::vector<std::string>> labels_;
    std::unordered_map<std::string, TopLabelId> ids_;
    TopThreadMap window_;
    TopThreadMap accumulated_;
    std::uint64_t window_rounds_ = 0;
    std::uint64_t accumulated_rounds_ = 0;
    // seen_[id] == sample_ when the label was already counted in this sample's total.
    std::vector<std::uint64_t> seen_;
    std::uint64_t sample_ = 0;
};

} // namespace sampler

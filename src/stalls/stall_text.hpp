#pragma once
// How stalls are told: one line on stderr as each ends, a JSON line each for --stalls FILE, and
// the summary at the end of `record`. Pure functions of the stalls.

#include "stall_detector.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sampler {

// "Task-2 client (app.py:22)", "callback on_timer (app.py:40)", "no Python frames".
std::string stall_culprit(const Stall& stall);
// `stall 512 ms  Task-2 client (app.py:22) > ClientResponse.json > JSONDecoder.raw_decode`: the
// culprit, then the hottest stack from the coroutine inward (long ones elided in the middle).
std::string stall_line(const Stall& stall);
// One JSON object (no newline). `start_unix_seconds` is the stall's start on the wall clock.
std::string stall_json(const Stall& stall, double start_unix_seconds);

struct StallSummary {
    std::uint64_t count = 0;
    std::uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0, total_ns = 0;
    struct Culprit {
        // stall_culprit() plus its innermost frame; tasks named by asyncio's counter ("Task-7", a
        // request's task in a server) are one culprit, "Task-*", per coroutine and frame.
        std::string label;
        std::uint64_t count = 0;
        std::uint64_t total_ns = 0;
        std::uint64_t max_ns = 0;
    };
    std::vector<Culprit> culprits; // by blocked time, most first
};
StallSummary summarize_stalls(const std::vector<Stall>& stalls);

// Culprits summed over stalls as they come, as summarize_stalls sums them. Past `max_labels`
// distinct culprits (task names an application gives per request), the rest are summed in one
// row, so that a long watch keeps a bounded table.
class CulpritTally {
  public:
    static constexpr const char* others_label = "(other culprits)";
    explicit CulpritTally(std::size_t max_labels = 4096) : max_labels_(max_labels) {}
    void add(const Stall& stall);
    // By blocked time, most first (ties by label).
    std::vector<StallSummary::Culprit> ranked() const;
    void clear() { by_label_.clear(); }

  private:
    std::size_t max_labels_;
    std::map<std::string, StallSummary::Culprit> by_label_;
};
// The lines `record` ends with; `threshold_ms` says what counted.
std::string stall_summary_text(const StallSummary& summary, double threshold_ms,
                               std::size_t max_culprits = 5);

} // namespace sampler

#pragma once
// The sampling side of `sampler top`: counts the session's stacks, ends a window every
// --delay seconds, and acts on keys between rounds (polling, so sampling never waits for them).

#include "live_stalls.hpp"
#include "sample_sink.hpp"
#include "stall_watch.hpp"
#include "top_counts.hpp"
#include "top_display.hpp"
#include "top_header.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sampler {

struct TopSettings {
    std::vector<int> pids; // the targets
    std::string command_line;
    double rate_hz = 100;
    double delay_seconds = 1;
    bool once = false;       // show the first window, then stop
    bool by_process = false; // start in the process table
    bool idle = false;       // --idle: sleeping threads are sampled too
};

class TopSink : public SampleSink {
  public:
    TopSink(const TopSettings& settings, TopDisplay& display);

    // --asyncio: `watch` stands between the session and this sink; each window then tells its
    // stalls in the header, and key S shows their culprits. Null: not watched.
    void watch_stalls(StallWatch* watch, double threshold_ms);

    void add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) override;
    bool end_of_round(const SessionReport& report) override;
    int longest_quiet_ms() const override { return 50; } // keys and --delay 0.1 redraws on time
    bool shows_kept_live() const override { return true; }
    // After the session: with --once, shows what was counted if the target ended the session
    // before the first window did.
    void finish(const SessionReport& report);

  private:
    using Clock = std::chrono::steady_clock;

    void end_window(const SessionReport& report, Clock::time_point now);
    void handle_key(int key, Clock::time_point now);
    void next_thread();
    void next_process();
    void move_selection(int step);
    void open_selected();
    void note_processes(const SessionReport& report, TopSnapshot& snapshot);
    void note_stalls(Clock::time_point now, TopSnapshot& snapshot, TopStallStatus& status);
    void reset(Clock::time_point now);
    bool redraw();
    TopStatus status() const;

    TopSettings settings_;
    TopDisplay& display_;
    TopCounter counter_;
    StallWatch* stall_watch_ = nullptr;
    LiveStalls live_stalls_;
    std::vector<TopFrameLabels> labels_;  // reused for every stack
    std::map<int, std::string> commands_; // PID -> command line, read again at each window
    // What the display shows: the latest window, or the one frozen by P.
    std::shared_ptr<const TopSnapshot> latest_ = std::make_shared<TopSnapshot>();
    std::shared_ptr<const TopSnapshot> shown_ = latest_;
    TopStatus latest_status_;
    TopStatus shown_status_;
    TopView view_;
    bool paused_ = false;
    bool help_ = false;
    bool quit_ = false;
    bool output_failed_ = false;
    bool shown_once_ = false;
    bool started_ = false;
    Clock::time_point start_{};
    Clock::time_point window_start_{};
    Clock::time_point next_refresh_{};
    Clock::time_point reset_at_{};
    bool was_reset_ = false;
    std::uint64_t ticks_counted_ = 0; // report.ticks already added to the counter as rounds
    std::uint64_t window_first_tick_ = 0;
    // perf_event engine: the covered samples (for the kept share) at the window's start.
    std::uint64_t window_first_covered_ = 0;
    double window_first_expected_ = 0;
};

} // namespace sampler

#include "top_sink.hpp"

#include "top_labels.hpp"

namespace sampler {
namespace {

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string thread_label(const TopSnapshot& snapshot, int tid) {
    if (tid == 0)
        return "all threads";
    std::size_t index = 0;
    for (const auto& [id, thread] : snapshot.accumulated) {
        ++index;
        if (id == tid)
            return "thread " + std::to_string(tid) + " (" + thread.name + "), " + std::to_string(index) +
                   " of " + std::to_string(snapshot.accumulated.size());
    }
    return "thread " + std::to_string(tid) + " (no samples)";
}

} // namespace

TopSink::TopSink(const TopSettings& settings, TopDisplay& display) : settings_(settings), display_(display) {
    latest_status_.pids = settings.pids;
    latest_status_.command_line = settings.command_line;
    latest_status_.requested_rate_hz = settings.rate_hz;
    shown_status_ = latest_status_;
}

void TopSink::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    labels_.clear();
    for (const Frame& frame : innermost_first)
        labels_.push_back(top_frame_labels(frame));
    counter_.add_stack(thread.tid, thread.name, labels_);
}

bool TopSink::end_of_round(const SessionReport& report) {
    Clock::time_point now = Clock::now();
    if (!started_) {
        // The session's clock starts after its set-up round; ours starts with its first round.
        started_ = true;
        start_ = window_start_ = now;
        next_refresh_ = now + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(settings_.delay_seconds));
        if (display_.interactive())
            redraw(); // the header at once, so the user sees that sampling has started
    }
    counter_.add_rounds(report.ticks - ticks_counted_);
    ticks_counted_ = report.ticks;

    for (int key = display_.read_key(); key != top_no_key && !quit_; key = display_.read_key())
        handle_key(key, now);

    if (now >= next_refresh_) {
        end_window(report, now);
        auto delay = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(settings_.delay_seconds));
        next_refresh_ += delay;
        if (next_refresh_ <= now) // rounds came too slowly for the delay: do not refresh in bursts
            next_refresh_ = now + delay;
        if (!paused_ || !display_.interactive()) {
            shown_ = latest_;
            shown_status_ = latest_status_;
            redraw();
            shown_once_ = true;
        }
        if (settings_.once)
            return false;
    }
    return !quit_ && !output_failed_;
}

void TopSink::finish(const SessionReport& report) {
    if (!settings_.once || shown_once_)
        return;
    counter_.add_rounds(report.ticks - ticks_counted_);
    ticks_counted_ = report.ticks;
    Clock::time_point now = Clock::now();
    if (!started_)
        start_ = window_start_ = now;
    end_window(report, now);
    shown_ = latest_;
    shown_status_ = latest_status_;
    redraw();
    shown_once_ = true;
}

void TopSink::end_window(const SessionReport& report, Clock::time_point now) {
    auto snapshot = std::make_shared<TopSnapshot>(counter_.end_window());
    double window_seconds = seconds_between(window_start_, now);
    TopStatus& status = latest_status_;
    status.elapsed_seconds = seconds_between(start_, now);
    status.counting_seconds = was_reset_ ? seconds_between(reset_at_, now) : -1;
    status.samples = report.ticks;
    status.achieved_rate_hz =
        window_seconds > 0 ? double(report.ticks - window_first_tick_) / window_seconds : settings_.rate_hz;
    // The perf_event engine samples CPU time, not rounds: what tells whether it keeps up is the
    // share of the samples that CPU time called for which arrived. Too few to tell: unknown.
    const double expected = report.expected_samples - window_first_expected_;
    status.kept_percent = report.engine == "perf_event" && expected >= 20
                              ? 100.0 * double(report.received_samples - window_first_received_) / expected
                              : (report.engine == "perf_event" ? status.kept_percent : -1);
    window_first_expected_ = report.expected_samples;
    window_first_received_ = report.received_samples;
    status.errors = report.errors;
    status.thread_samples = report.thread_samples;
    status.threads_sampled = snapshot->window.size();
    status.processes = report.processes;
    status.python_version = report.python_version;
    status.gil_percent = 100 * report.gil_share();
    status.active_percent = 100 * report.active_share();
    latest_ = std::move(snapshot);
    window_start_ = now;
    window_first_tick_ = report.ticks;
}

void TopSink::handle_key(int key, Clock::time_point now) {
    bool had_help = help_;
    help_ = false; // any key closes the help; it still does what it says
    switch (key) {
    case '1':
    case '2':
    case '3':
    case '4':
        view_.sort = static_cast<TopSort>(key - '0');
        break;
    case 'l':
    case 'L':
        view_.mode = view_.mode == TopMode::function ? TopMode::line : TopMode::function;
        break;
    case 't':
    case 'T':
        next_thread();
        break;
    case 'p':
    case 'P':
        paused_ = !paused_;
        if (!paused_) {
            shown_ = latest_;
            shown_status_ = latest_status_;
        }
        break;
    case 'r':
    case 'R':
        reset(now);
        break;
    case '?':
    case 'h':
    case 'H':
        help_ = !had_help;
        break;
    case 'q':
    case 'Q':
        quit_ = true;
        return;
    case top_resize_key:
        help_ = had_help;
        break;
    default:
        break;
    }
    redraw();
}

void TopSink::reset(Clock::time_point now) {
    counter_.reset();
    was_reset_ = true;
    reset_at_ = now;
    // Counts restart now; what is on screen restarts too, even while paused.
    auto empty = std::make_shared<TopSnapshot>();
    empty->labels = latest_->labels;
    latest_ = shown_ = std::move(empty);
}

void TopSink::next_thread() {
    const TopThreadMap& threads = shown_->accumulated;
    auto next = view_.thread == 0 ? threads.begin() : threads.upper_bound(view_.thread);
    view_.thread = next == threads.end() ? 0 : next->first;
}

TopStatus TopSink::status() const {
    TopStatus status = shown_status_;
    status.view = view_;
    status.thread_label = thread_label(*shown_, view_.thread);
    status.delay_seconds = settings_.delay_seconds;
    status.paused = paused_;
    status.interactive = display_.interactive();
    return status;
}

bool TopSink::redraw() {
    if (!output_failed_ && !display_.show(status(), *shown_, help_))
        output_failed_ = true;
    return !output_failed_;
}

} // namespace sampler

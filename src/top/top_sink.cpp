#include "top_sink.hpp"

#include "proc_threads.hpp"
#include "sampler/clock.hpp"
#include "top_labels.hpp"
#include "top_processes.hpp"

#include <algorithm>
#include <set>

namespace sampler {
namespace {

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

bool in_view(const TopThreadCounts& thread, int pid) {
    return pid == 0 || thread.pid == pid;
}

// Threads are counted within the process shown.
std::string thread_label(const TopSnapshot& snapshot, int tid, int pid) {
    if (tid == 0)
        return "all threads";
    std::size_t index = 0, count = 0;
    const TopThreadCounts* found = nullptr;
    for (const auto& [id, thread] : snapshot.accumulated) {
        if (!in_view(thread, pid))
            continue;
        ++count;
        if (id == tid) {
            index = count;
            found = &thread;
        }
    }
    if (!found)
        return "thread " + std::to_string(tid) + " (no samples)";
    return "thread " + std::to_string(tid) + " (" + found->name + "), " + std::to_string(index) + " of " +
           std::to_string(count);
}

// Every process the snapshot knows: sampled now, or with counts since the start.
std::vector<int> known_processes(const TopSnapshot& snapshot) {
    std::set<int> pids;
    for (const auto& [pid, command] : snapshot.processes)
        pids.insert(pid);
    for (const auto& [tid, thread] : snapshot.accumulated)
        pids.insert(thread.pid);
    return {pids.begin(), pids.end()};
}

std::string process_label(const TopSnapshot& snapshot, int pid) {
    if (pid == 0)
        return "";
    std::string text = "process " + std::to_string(pid);
    if (auto command = snapshot.processes.find(pid); command != snapshot.processes.end())
        text += " (" + command->second + ")";
    std::vector<int> pids = known_processes(snapshot);
    auto at = std::find(pids.begin(), pids.end(), pid);
    if (at == pids.end())
        return text + ", ended";
    return text + ", " + std::to_string(at - pids.begin() + 1) + " of " + std::to_string(pids.size());
}

bool has_python_frames(const std::vector<Frame>& frames) {
    return std::any_of(frames.begin(), frames.end(),
                       [](const Frame& frame) { return frame.kind == FrameKind::python; });
}

} // namespace

TopSink::TopSink(const TopSettings& settings, TopDisplay& display) : settings_(settings), display_(display) {
    latest_status_.pids = settings.pids;
    latest_status_.command_line = settings.command_line;
    latest_status_.requested_rate_hz = settings.rate_hz;
    latest_status_.idle = settings.idle;
    shown_status_ = latest_status_;
    view_.by_process = settings.by_process;
}

void TopSink::watch_stalls(StallWatch* watch, double threshold_ms) {
    stall_watch_ = watch;
    latest_status_.stalls.watching = watch != nullptr;
    latest_status_.stalls.threshold_ms = threshold_ms;
    shown_status_.stalls = latest_status_.stalls;
}

void TopSink::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    labels_.clear();
    for (const Frame& frame : innermost_first)
        labels_.push_back(top_frame_labels(frame));
    counter_.add_stack(TopStackInfo{.pid = thread.pid,
                                    .tid = thread.tid,
                                    .name = thread.name,
                                    .on_cpu = thread.on_cpu(),
                                    .holds_gil = thread.holds_gil,
                                    .python = has_python_frames(innermost_first)},
                       labels_);
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

// The command lines are read again at each window, for the processes sampled now and those
// with counts: a process that exec'd has a new one, one that ended keeps its last.
void TopSink::note_processes(const SessionReport& report, TopSnapshot& snapshot) {
    std::map<int, std::string> known;
    auto note = [&](int pid) {
        if (known.contains(pid))
            return;
        std::string command = process_command_line(pid);
        if (command.empty())
            if (auto before = commands_.find(pid); before != commands_.end())
                command = before->second;
        known.emplace(pid, std::move(command));
    };
    for (int pid : report.pids)
        note(pid);
    for (const auto& [tid, thread] : snapshot.accumulated)
        note(thread.pid);
    commands_ = known;
    snapshot.processes = std::move(known);
}

// The stalls told since the last window, and those still running, counted for the header; the
// culprits since the start (or R) for the table.
void TopSink::note_stalls(Clock::time_point now, TopSnapshot& snapshot, TopStallStatus& status) {
    for (const Stall& stall : stall_watch_->take_stalls())
        live_stalls_.add(stall);
    const std::vector<Stall> open = stall_watch_->open_stalls();
    const StallWindowCounts counts =
        live_stalls_.end_window(monotonic_ns(window_start_), monotonic_ns(now), open);
    status.loops = stall_watch_->loop_threads_seen();
    status.count = counts.count;
    status.longest_ms = double(counts.longest_ns) / 1e6;
    status.blocked_percent = 100 * counts.blocked_share;
    for (const StallSummary::Culprit& culprit : live_stalls_.culprits(open))
        snapshot.stall_culprits.push_back({.label = culprit.label,
                                           .count = culprit.count,
                                           .blocked_seconds = double(culprit.total_ns) / 1e9,
                                           .max_ms = double(culprit.max_ns) / 1e6});
}

void TopSink::end_window(const SessionReport& report, Clock::time_point now) {
    auto snapshot = std::make_shared<TopSnapshot>(counter_.end_window());
    note_processes(report, *snapshot);
    if (stall_watch_)
        note_stalls(now, *snapshot, latest_status_.stalls);
    double window_seconds = seconds_between(window_start_, now);
    TopStatus& status = latest_status_;
    status.elapsed_seconds = seconds_between(start_, now);
    status.counting_seconds = was_reset_ ? seconds_between(reset_at_, now) : -1;
    status.samples = report.ticks;
    status.achieved_rate_hz =
        window_seconds > 0 ? double(report.ticks - window_first_tick_) / window_seconds : settings_.rate_hz;
    // The perf_event engine samples CPU time, not rounds: what tells whether it keeps up is the
    // share of the samples that CPU time called for which arrived. Too few to tell: unknown.
    // (Samples no counted CPU time covers, of processes that ended: left out, as in record.)
    const double expected = report.expected_samples - window_first_expected_;
    const std::uint64_t covered = report.covered_samples();
    status.kept_percent = report.engine == "perf_event" && expected >= SessionReport::min_expected_for_share
                              ? 100.0 * double(covered - std::min(covered, window_first_covered_)) / expected
                              : (report.engine == "perf_event" ? status.kept_percent : -1);
    window_first_expected_ = report.expected_samples;
    window_first_covered_ = covered;
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
        (view_.by_process ? view_.process_sort : view_.sort) = static_cast<TopSort>(key - '0');
        break;
    case 'l':
    case 'L':
        view_.mode = view_.mode == TopMode::function ? TopMode::line : TopMode::function;
        break;
    case 't':
    case 'T':
        next_thread();
        break;
    case 's':
    case 'S':
        view_.stalls = stall_watch_ != nullptr && !view_.stalls;
        break;
    case 'w':
    case 'W':
        view_.stalls = false;
        // From one process's functions back to the table at its row; from the table to all
        // processes' functions.
        view_.by_process = !view_.by_process;
        if (view_.by_process && view_.process != 0)
            view_.selected = view_.process;
        if (!view_.by_process)
            view_.process = view_.thread = 0;
        break;
    case 'n':
    case 'N':
        view_.stalls = false;
        next_process();
        break;
    case top_up_key:
    case 'k':
        move_selection(-1);
        break;
    case top_down_key:
    case 'j':
        move_selection(1);
        break;
    case top_enter_key:
        open_selected();
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
    live_stalls_.reset();
    was_reset_ = true;
    reset_at_ = now;
    // Counts restart now; what is on screen restarts too, even while paused.
    auto empty = std::make_shared<TopSnapshot>();
    empty->labels = latest_->labels;
    empty->processes = latest_->processes;
    latest_ = shown_ = std::move(empty);
}

void TopSink::next_thread() {
    const TopThreadMap& threads = shown_->accumulated;
    auto next = view_.thread == 0 ? threads.begin() : threads.upper_bound(view_.thread);
    while (next != threads.end() && !in_view(next->second, view_.process))
        ++next;
    view_.thread = next == threads.end() ? 0 : next->first;
}

// All processes, then each in turn (by PID), then all again: the function table of each.
void TopSink::next_process() {
    std::vector<int> pids = known_processes(*shown_);
    auto next = std::upper_bound(pids.begin(), pids.end(), view_.process);
    view_.process = view_.process == 0 ? (pids.empty() ? 0 : pids.front()) : (next == pids.end() ? 0 : *next);
    view_.thread = 0;
    view_.by_process = false;
    if (view_.process != 0)
        view_.selected = view_.process;
}

void TopSink::move_selection(int step) {
    if (!view_.by_process || view_.stalls)
        return;
    std::vector<TopProcessRow> rows = build_top_process_rows(*shown_, view_.process_sort);
    if (rows.empty())
        return;
    const auto last = static_cast<long>(rows.size()) - 1;
    const long at = std::clamp(static_cast<long>(top_process_index(rows, view_.selected)) + step, 0L, last);
    view_.selected = rows[static_cast<std::size_t>(at)].pid;
}

void TopSink::open_selected() {
    if (!view_.by_process || view_.stalls)
        return;
    std::vector<TopProcessRow> rows = build_top_process_rows(*shown_, view_.process_sort);
    if (rows.empty())
        return;
    view_.process = view_.selected = rows[top_process_index(rows, view_.selected)].pid;
    view_.thread = 0;
    view_.by_process = false;
}

TopStatus TopSink::status() const {
    TopStatus status = shown_status_;
    status.view = view_;
    status.thread_label = thread_label(*shown_, view_.thread, view_.process);
    status.process_label = process_label(*shown_, view_.process);
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

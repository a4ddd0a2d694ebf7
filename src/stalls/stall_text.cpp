#include "stall_text.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

namespace sampler {
namespace {

constexpr std::size_t max_line_frames = 6; // frames of the hottest stack a stderr line shows

std::string milliseconds(std::uint64_t ns) {
    char text[32];
    std::snprintf(text, sizeof text, "%.0f ms", double(ns) / 1e6);
    return text;
}

std::string frame_place(const Frame& frame) {
    if (frame.file.empty())
        return frame.name;
    return frame.name + " (" + frame.file + (frame.line ? ":" + std::to_string(frame.line) : "") + ")";
}

nlohmann::json frame_json(const Frame& frame) {
    nlohmann::json json{{"name", frame.name}};
    if (!frame.file.empty())
        json["file"] = frame.file;
    if (frame.line)
        json["line"] = frame.line;
    if (!frame.module.empty())
        json["module"] = frame.module;
    return json;
}

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double share) {
    if (sorted.empty())
        return 0;
    const auto index = static_cast<std::size_t>(share * double(sorted.size() - 1) + 0.5);
    return sorted[std::min(index, sorted.size() - 1)];
}

// asyncio names a task it was given no name for "Task-" and a number from a counter. A server
// makes one such task per request (aiohttp, uvicorn), so the number tells requests apart, not
// culprits.
bool default_task_name(const std::string& name) {
    constexpr std::string_view prefix = "Task-";
    return name.size() > prefix.size() && name.starts_with(prefix) &&
           std::all_of(name.begin() + prefix.size(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string culprit(const std::string& task, const Frame& coroutine) {
    const bool known = coroutine.kind != FrameKind::unknown;
    if (!task.empty())
        return known ? task + " " + frame_place(coroutine) : task;
    return known ? "callback " + frame_place(coroutine) : "callback (no Python frames)";
}

} // namespace

std::string stall_culprit(const Stall& stall) {
    return culprit(stall.task, stall.coroutine);
}

std::string stall_line(const Stall& stall) {
    std::string line = "stall " + milliseconds(stall.duration_ns) +
                       (stall.began_before ? " (or more: began before)" : "") +
                       (stall.ongoing ? " (still running)" : "") + "  " + stall_culprit(stall);
    // From the coroutine inward; the coroutine itself is already named.
    std::vector<std::string> names;
    for (auto frame = stall.hottest_stack.rbegin(); frame != stall.hottest_stack.rend(); ++frame)
        names.push_back(frame->name.empty() ? aggregate_label(*frame) : frame->name);
    if (!names.empty() && stall.coroutine.kind != FrameKind::unknown)
        names.erase(names.begin());
    if (names.size() > max_line_frames) {
        // The first frames say where in the coroutine, the last ones what ran: keep both ends.
        names.erase(names.begin() + 2, names.end() - static_cast<std::ptrdiff_t>(max_line_frames - 2));
        names.insert(names.begin() + 2, "...");
    }
    for (const std::string& name : names)
        line += " > " + name;
    return line;
}

std::string stall_json(const Stall& stall, double start_unix_seconds) {
    nlohmann::json json{
        {"start", start_unix_seconds},
        {"duration_ms", double(stall.duration_ns) / 1e6},
        {"pid", stall.pid},
        {"tid", stall.tid},
        {"thread", stall.thread_name},
        {"task", stall.task.empty() ? nlohmann::json(nullptr) : nlohmann::json(stall.task)},
        {"coroutine",
         stall.coroutine.kind == FrameKind::unknown ? nlohmann::json(nullptr) : frame_json(stall.coroutine)},
        {"observations", stall.observations},
        {"ongoing", stall.ongoing},
        {"began_before", stall.began_before},
    };
    nlohmann::json stack = nlohmann::json::array();
    for (const Frame& frame : stall.hottest_stack)
        stack.push_back(frame_json(frame));
    json["stack"] = std::move(stack);
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void CulpritTally::add(const Stall& stall) {
    std::string label = culprit(default_task_name(stall.task) ? "Task-*" : stall.task, stall.coroutine);
    if (stall.hottest_stack.size() > 1)
        label += " > " + aggregate_label(stall.hottest_stack.front());
    if (!by_label_.contains(label) && by_label_.size() >= max_labels_)
        label = others_label;
    StallSummary::Culprit& culprit = by_label_[label];
    culprit.label = label;
    ++culprit.count;
    culprit.total_ns += stall.duration_ns;
    culprit.max_ns = std::max(culprit.max_ns, stall.duration_ns);
}

std::vector<StallSummary::Culprit> CulpritTally::ranked() const {
    std::vector<StallSummary::Culprit> culprits;
    for (const auto& [label, culprit] : by_label_)
        culprits.push_back(culprit);
    std::ranges::sort(culprits, [](const auto& a, const auto& b) {
        return a.total_ns != b.total_ns ? a.total_ns > b.total_ns : a.label < b.label;
    });
    return culprits;
}

StallSummary summarize_stalls(const std::vector<Stall>& stalls) {
    StallSummary summary;
    std::vector<std::uint64_t> durations;
    CulpritTally culprits(SIZE_MAX);
    for (const Stall& stall : stalls) {
        durations.push_back(stall.duration_ns);
        summary.total_ns += stall.duration_ns;
        culprits.add(stall);
    }
    std::ranges::sort(durations);
    summary.count = stalls.size();
    summary.p50_ns = percentile(durations, 0.5);
    summary.p99_ns = percentile(durations, 0.99);
    summary.max_ns = durations.empty() ? 0 : durations.back();
    summary.culprits = culprits.ranked();
    return summary;
}

std::string stall_summary_text(const StallSummary& summary, double threshold_ms, std::size_t max_culprits) {
    char head[256];
    if (summary.count == 0) {
        std::snprintf(head, sizeof head, "sampler: --asyncio: no event-loop stall of %g ms or more\n",
                      threshold_ms);
        return head;
    }
    std::snprintf(head, sizeof head,
                  "sampler: --asyncio: %llu stall%s of %g ms or more, %s blocked in all; p50 %s, p99 %s, "
                  "max %s\n",
                  (unsigned long long)summary.count, summary.count == 1 ? "" : "s", threshold_ms,
                  milliseconds(summary.total_ns).c_str(), milliseconds(summary.p50_ns).c_str(),
                  milliseconds(summary.p99_ns).c_str(), milliseconds(summary.max_ns).c_str());
    std::string text = head;
    text += "sampler: top culprits by blocked time:\n";
    for (std::size_t i = 0; i < summary.culprits.size() && i < max_culprits; ++i) {
        const auto& culprit = summary.culprits[i];
        text += "sampler:   " + milliseconds(culprit.total_ns) + " in " + std::to_string(culprit.count) +
                " stall" + (culprit.count == 1 ? "" : "s") + "  " + culprit.label + "\n";
    }
    return text;
}

} // namespace sampler

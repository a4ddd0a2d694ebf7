#include "top_counts.hpp"

#include <algorithm>

namespace sampler {

void TopCount::add(const TopCount& other) {
    own += other.own;
    own_on_cpu += other.own_on_cpu;
    total += other.total;
    depth = std::min(depth, other.depth);
}

TopCounter::TopCounter() : labels_(std::make_shared<std::vector<std::string>>()) {}

TopLabelId TopCounter::intern(const std::string& label) {
    auto found = ids_.find(label);
    if (found != ids_.end())
        return found->second;
    // Snapshots share the label table; copy it before growing it if one still holds it, so a
    // snapshot never sees the table change under it. New labels are rare after the first rounds.
    if (labels_.use_count() > 1)
        labels_ = std::make_shared<std::vector<std::string>>(*labels_);
    auto id = static_cast<TopLabelId>(labels_->size());
    labels_->push_back(label);
    ids_.emplace(label, id);
    seen_.push_back(0);
    return id;
}

void TopCounter::count(TopCountMap& counts, TopLabelId id, bool innermost, bool on_cpu, std::uint32_t depth) {
    TopCount& entry = counts[id];
    entry.depth = std::min(entry.depth, depth);
    if (innermost) {
        ++entry.own;
        entry.own_on_cpu += on_cpu;
    }
    if (seen_[id] != sample_) {
        seen_[id] = sample_;
        ++entry.total;
    }
}

void TopCounter::add_stack(const TopStackInfo& stack, const std::vector<TopFrameLabels>& innermost_first) {
    TopThreadCounts& thread = window_[stack.tid];
    thread.pid = stack.pid;
    thread.name = stack.name;
    ++thread.samples;
    thread.on_cpu += stack.on_cpu;
    // Of the time on a CPU, as the header's share: a sleeping stack (--idle) that reads as
    // holding the GIL would count a period twice.
    thread.gil += stack.holds_gil && stack.on_cpu;
    thread.python = thread.python || stack.python;
    // One sample per mode: function and line labels never share ids with each other's counts,
    // but the same label can occur in both, so each mode gets its own "seen" stamp.
    for (std::size_t mode = 0; mode < 2; ++mode) {
        ++sample_;
        auto depth = static_cast<std::uint32_t>(innermost_first.size());
        for (const TopFrameLabels& frame : innermost_first) {
            const std::string& label = mode == 0 ? frame.function : frame.line;
            --depth;
            count(thread.modes[mode], intern(label), &frame == &innermost_first.front(), stack.on_cpu, depth);
        }
    }
}

TopSnapshot TopCounter::end_window() {
    for (const auto& [tid, thread] : window_) {
        TopThreadCounts& total = accumulated_[tid];
        total.pid = thread.pid;
        total.name = thread.name;
        total.samples += thread.samples;
        total.on_cpu += thread.on_cpu;
        total.gil += thread.gil;
        total.python = total.python || thread.python;
        for (std::size_t mode = 0; mode < 2; ++mode)
            for (const auto& [id, count] : thread.modes[mode])
                total.modes[mode][id].add(count);
    }
    accumulated_rounds_ += window_rounds_;

    TopSnapshot snapshot;
    snapshot.labels = labels_;
    snapshot.window = std::move(window_);
    snapshot.accumulated = accumulated_;
    snapshot.window_rounds = window_rounds_;
    snapshot.accumulated_rounds = accumulated_rounds_;
    window_.clear();
    window_rounds_ = 0;
    return snapshot;
}

void TopCounter::reset() {
    window_.clear();
    accumulated_.clear();
    window_rounds_ = 0;
    accumulated_rounds_ = 0;
}

} // namespace sampler

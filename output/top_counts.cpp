#include "top_counts.hpp"

#include <algorithm>

namespace sampler {

void TopCount::add(const TopCount& other) {
    own += other.own;
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

void TopCounter::count(TopCountMap& counts, TopLabelId id, bool innermost, std::uint32_t depth) {
    TopCount& entry = counts[id];
    entry.depth = std::min(entry.depth, depth);
    if (innermost)
        ++entry.own;
    if (seen_[id] != sample_) {
        seen_[id] = sample_;
        ++entry.total;
    }
}

void TopCounter::add_stack(int tid, const std::string& thread_name,
                           const std::vector<TopFrameLabels>& innermost_first) {
    TopThreadCounts& thread = window_[tid];
    thread.name = thread_name;
    ++thread.samples;
    // One sample per mode: function and line labels never share ids with each other's counts,
    // but the same label can occur in both, so each mode gets its own "seen" stamp.
    for (std::size_t mode = 0; mode < 2; ++mode) {
        ++sample_;
        auto depth = static_cast<std::uint32_t>(innermost_first.size());
        for (const TopFrameLabels& frame : innermost_first) {
            const std::string& label = mode == 0 ? frame.function : frame.line;
            --depth;
            count(thread.modes[mode], intern(label), &frame == &innermost_first.front(), depth);
        }
    }
}

TopSnapshot TopCounter::end_window() {
    for (const auto& [tid, thread] : window_) {
        TopThreadCounts& total = accumulated_[tid];
        total.name = thread.name;
        total.samples += thread.samples;
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

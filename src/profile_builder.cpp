#include "profile_builder.hpp"

namespace sampler {

Frame aggregation_key(const Frame& frame) {
    Frame key;
    key.kind = frame.kind;
    key.name = frame.name;
    if (frame.kind == FrameKind::python) {
        key.file = frame.file;
        key.line = frame.line;
    } else if (frame.name.empty()) {
        key.module = frame.module;
        key.module_offset = frame.module_offset;
        if (frame.module.empty())
            key.address = frame.address;
    }
    return key;
}

Frame thread_root_frame(const ThreadInfo& thread) {
    Frame root;
    root.kind = FrameKind::thread;
    root.name = "thread " + std::to_string(thread.tid) + " (" + thread.name + ")";
    return root;
}

void ProfileBuilder::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    scratch_.clear();
    if (options_.thread_roots)
        scratch_.push_back(profile_.intern(thread_root_frame(thread)));
    for (auto frame = innermost_first.rbegin(); frame != innermost_first.rend(); ++frame)
        scratch_.push_back(profile_.intern(aggregation_key(*frame)));
    profile_.tree.add(scratch_);
}

} // namespace sampler

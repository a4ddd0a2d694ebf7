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

Frame process_root_frame(int pid, const std::string& command_line) {
    Frame root;
    root.kind = FrameKind::process;
    root.name = "process " + std::to_string(pid) + " (" + command_line + ")";
    return root;
}

void ProfileBuilder::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    scratch_.clear();
    if (options_.process_roots) {
        auto [it, inserted] = process_roots_.try_emplace(thread.pid, 0);
        if (inserted)
            it->second = profile_.intern(process_root_frame(thread.pid, process_command_line(thread.pid)));
        scratch_.push_back(it->second);
    }
    if (options_.thread_roots)
        scratch_.push_back(profile_.intern(thread_root_frame(thread)));
    for (auto frame = innermost_first.rbegin(); frame != innermost_first.rend(); ++frame)
        scratch_.push_back(profile_.intern(aggregation_key(*frame)));
    profile_.tree.add(scratch_);
}

} // namespace sampler

#include "profile_builder.hpp"

#include "process_maps.hpp"
#include "sampler/clock.hpp"

#include <algorithm>
#include <limits>

namespace sampler {

// By reference, so a stack's frames are interned without copying their strings (unless new).
FrameRef aggregation_key_ref(const Frame& frame) {
    FrameRef key{.kind = frame.kind, .name = frame.name, .function_line = frame.function_line};
    if (frame.kind == FrameKind::python) {
        key.file = frame.file;
        key.line = frame.line;
    } else if (!frame.name.empty()) {
        // Per function, not per line; but which function, in which module, so pprof can tell
        // same-named functions apart and give each a mapping and an address.
        key.module = frame.module;
        key.function_offset = frame.function_offset;
        key.function_file = frame.function_file;
    } else {
        key.module = frame.module;
        key.module_offset = frame.module_offset;
        if (frame.module.empty())
            key.address = frame.address;
    }
    return key;
}

Frame aggregation_key(const Frame& frame) {
    return aggregation_key_ref(frame).to_frame();
}

namespace {

FrameId intern_key(Profile& profile, const Frame& frame) {
    return profile.frames.intern(aggregation_key_ref(frame));
}

} // namespace

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

Frame task_root_frame(const std::string& task, const std::string& coroutine) {
    Frame root;
    root.kind = FrameKind::task;
    root.name = "task " + task + (coroutine.empty() ? "" : " (" + coroutine + ")");
    return root;
}

Frame no_task_root_frame() {
    Frame root;
    root.kind = FrameKind::task;
    root.name = "loop (no task)";
    return root;
}

std::uint32_t ProfileBuilder::thread_index(const ThreadInfo& thread) {
    auto [it, inserted] = thread_index_.try_emplace({thread.pid, thread.tid},
                                                    static_cast<std::uint32_t>(profile_.threads.size()));
    if (inserted)
        profile_.threads.push_back({thread.pid, thread.tid, thread.name});
    return it->second;
}

ProcessRecord& ProfileBuilder::process_record(int pid) {
    auto [it, inserted] = profile_.processes.try_emplace(pid);
    if (inserted)
        it->second.command_line = process_command_line(pid);
    return it->second;
}

void ProfileBuilder::add_modules(const std::vector<ModuleRecord>& modules) {
    for (const ModuleRecord& module : modules)
        profile_.modules.try_emplace(path_basename(module.path), module);
}

void ProfileBuilder::add_stack(const ThreadInfo& thread, const std::vector<Frame>& innermost_first) {
    // A stack handed over late (held back by --stalls-only) keeps the time it was taken at.
    add_stack_at(thread, innermost_first,
                 thread.sampled_ns ? steady_at(thread.sampled_ns) : std::chrono::steady_clock::now());
}

void ProfileBuilder::add_stack_at(const ThreadInfo& thread, const std::vector<Frame>& innermost_first,
                                  std::chrono::steady_clock::time_point when) {
    scratch_.clear();
    ProcessRecord& process = process_record(thread.pid);
    ++process.samples;
    process.on_cpu_samples += thread.on_cpu();
    const std::uint32_t thread_id = thread_index(thread);
    if (last_stacks_.size() <= thread_id)
        last_stacks_.resize(thread_id + 1);
    LastStack& last = last_stacks_[thread_id];
    if (options_.process_roots) {
        auto [it, inserted] = process_roots_.try_emplace(thread.pid, 0);
        if (inserted)
            it->second = profile_.intern(process_root_frame(thread.pid, process.command_line));
        scratch_.push_back(it->second);
    }
    auto frame = innermost_first.rbegin();
    if (frame != innermost_first.rend() && frame->kind == FrameKind::task)
        scratch_.push_back(intern_key(profile_, *frame++));
    if (options_.thread_roots)
        scratch_.push_back(profile_.intern(thread_root_frame(thread)));
    // A thread's consecutive stacks mostly share their frames: each is first compared with the
    // frame the thread's last stack had at the same depth, and hashed and looked up only when it
    // differs. Past the first difference they still often agree (a new line in one Python frame,
    // the same native frames under it).
    for (; frame != innermost_first.rend(); ++frame) {
        const FrameRef key = aggregation_key_ref(*frame);
        const std::size_t at = scratch_.size();
        if (at < last.frames.size() && profile_.frames.matches(last.frames[at], key)) {
            scratch_.push_back(last.frames[at]);
            continue;
        }
        scratch_.push_back(profile_.frames.intern(key));
    }
    const auto shared =
        std::mismatch(scratch_.begin(), scratch_.end(), last.frames.begin(), last.frames.end());
    const auto known = static_cast<std::size_t>(shared.first - scratch_.begin());
    const CallTree::NodeId leaf = profile_.tree.add(scratch_, last.path, known);
    last.frames.assign(scratch_.begin(), scratch_.end());

    if (options_.pprof_details) {
        // The leaf is innermost_first[0]; walking up the parents visits the frames in that order.
        CallTree::NodeId node = leaf;
        for (const Frame& frame : innermost_first) {
            if (frame.inlined) {
                if (inlined_marked_.size() <= node)
                    inlined_marked_.resize(profile_.tree.node_count());
                if (!inlined_marked_[node]) {
                    inlined_marked_[node] = true;
                    profile_.inlined_into_parent.insert(node);
                }
            }
            node = profile_.tree.parent(node);
        }
        ++profile_.thread_stacks[{thread_id, leaf}];
    }
    if (options_.record_timeline) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(when - last_).count();
        const auto clamped = std::clamp<std::int64_t>(micros, 0, std::numeric_limits<std::uint32_t>::max());
        profile_.timeline.push_back({leaf, static_cast<std::uint32_t>(clamped), thread_id});
        last_ = when;
    }
}

} // namespace sampler

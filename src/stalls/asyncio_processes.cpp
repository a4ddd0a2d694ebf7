#include "asyncio_processes.hpp"

#include "sampler/error.hpp"

#include <algorithm>

namespace sampler {

LoopThreads* AsyncioProcesses::loops_for(ProcessSampler& process, std::chrono::steady_clock::time_point now) {
    const int pid = process.pid();
    if (auto skipped = unsupported_.find(pid); skipped != unsupported_.end()) {
        if (skipped->second == &process)
            return nullptr;
        unsupported_.erase(skipped); // it exec'd: a new program, perhaps a Python one
    }
    auto found = loops_.find(pid);
    if (found != loops_.end() && found->second->process() != &process)
        loops_.erase(found), found = loops_.end(); // it exec'd: its loops are gone
    if (found == loops_.end()) {
        if (!process.is_python())
            return nullptr;
        try {
            found = loops_.emplace(pid, std::make_unique<LoopThreads>(process)).first;
        } catch (const Error& error) {
            for (const AsyncioNotes& notes : notes_)
                if (notes.unsupported)
                    notes.unsupported(pid, error.what());
            unsupported_[pid] = &process;
            return nullptr;
        }
    }
    LoopThreads& loops = *found->second;
    const bool had_uvloop = loops.uvloop_seen();
    if (!loops.refresh_if_stale(now))
        return &loops;
    if (!had_uvloop && loops.uvloop_seen())
        for (const AsyncioNotes& notes : notes_)
            if (notes.uvloop)
                notes.uvloop(pid);
    for (const AsyncioLoopRef& loop : loops.loops())
        loop_threads_seen_ = loop_threads_seen_ || loop.tid != 0;
    return &loops;
}

bool AsyncioProcesses::uvloop_seen() const {
    return std::ranges::any_of(loops_, [](const auto& entry) { return entry.second->uvloop_seen(); });
}

LoopThreads* AsyncioProcesses::listed_loops(const ProcessSampler& process) {
    auto found = loops_.find(process.pid());
    return found != loops_.end() && found->second->process() == &process ? found->second.get() : nullptr;
}

} // namespace sampler

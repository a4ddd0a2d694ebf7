#include "native_stacks.hpp"

namespace sampler {

NativeStacks::NativeStacks(int pid) : modules_(pid), unwinder_(modules_), symbolizer_(modules_) {
    refresh();
}

void NativeStacks::refresh() {
    if (modules_.refresh())
        unwinder_.flush_cache();
    last_refresh_ = std::chrono::steady_clock::now();
    maps_changed_ = false;
}

void NativeStacks::read_through(int tid) {
    modules_.read_through(tid);
    unwinder_.flush_cache();
}

void NativeStacks::refresh_if_stale() {
    if (std::chrono::steady_clock::now() - last_refresh_ > std::chrono::seconds(1))
        refresh();
}

void NativeStacks::refresh_if_stale(std::chrono::steady_clock::duration age) {
    if (std::chrono::steady_clock::now() - last_refresh_ > age)
        refresh();
}

void NativeStacks::load_symbols() {
    for (const Module& module : modules_.modules()) {
        symbolizer_.frames_for(module.start, false);
        symbolizer_.load_debug_info(module);
    }
}

CaptureLimits NativeStacks::limits_for_capture(std::size_t max_stack_bytes) const {
    CaptureLimits limits;
    limits.max_stack_bytes = max_stack_bytes;
    limits.maps = &modules_.maps();
    return limits;
}

ResolvedStack NativeStacks::resolve(const ThreadSnapshot& snapshot, std::size_t max_depth) {
    ResolvedFrames resolved = resolve_frames(snapshot, max_depth);
    ResolvedStack stack;
    stack.end = resolved.end;
    stack.frames.reserve(resolved.frames.size());
    for (const Frame* frame : resolved.frames)
        stack.frames.push_back(*frame);
    return stack;
}

ResolvedFrames NativeStacks::resolve_frames(const ThreadSnapshot& snapshot, std::size_t max_depth) {
    UnwoundStack unwound = unwinder_.unwind(snapshot, max_depth);
    // An address outside every known module usually means a library loaded since the last read
    // of the maps: refresh once (rate-limited, unless an mmap record said so) and unwind again.
    bool unknown_code = unwound.frames.empty() || !modules_.module_at(unwound.frames.front().address) ||
                        unwound.end == UnwindEnd::truncated;
    if (unknown_code && (maps_changed_ ||
                         std::chrono::steady_clock::now() - last_refresh_ > std::chrono::milliseconds(100))) {
        refresh();
        unwound = unwinder_.unwind(snapshot, max_depth);
    }
    ResolvedFrames stack;
    stack.end = unwound.end;
    stack.frames.reserve(unwound.frames.size() + 8);
    for (const StackAddress& address : unwound.frames)
        for (const Frame& frame : symbolizer_.frames_for(address.address, address.is_return_address))
            stack.frames.push_back(&frame);
    return stack;
}

} // namespace sampler

#pragma once
// The per-process machinery for native stacks: the module map, the unwinder and the symbolizer,
// turning a thread snapshot (taken while the thread was stopped) into frames, after it runs on.

#include "module_map.hpp"
#include "remote_unwinder.hpp"
#include "sampler/frame.hpp"
#include "symbolizer.hpp"
#include "thread_capture.hpp"

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace sampler {

struct ResolvedStack {
    std::vector<Frame> frames; // innermost first, inline frames expanded
    UnwindEnd end = UnwindEnd::complete;
};

// The same stack as the symbolizer's own frames, not copies: they live as long as the
// NativeStacks that made them (its caches are only ever added to).
struct ResolvedFrames {
    std::vector<const Frame*> frames; // innermost first, inline frames expanded
    UnwindEnd end = UnwindEnd::complete;
};

class NativeStacks {
  public:
    explicit NativeStacks(int pid);

    // Limits for capturing a thread: the stack copy stops at the end of the stack's mapping.
    CaptureLimits limits_for_capture(std::size_t max_stack_bytes) const;
    ResolvedStack resolve(const ThreadSnapshot& snapshot, std::size_t max_depth);
    ResolvedFrames resolve_frames(const ThreadSnapshot& snapshot, std::size_t max_depth);
    // Loads every mapped module's symbols and line tables now, before sampling starts, so the
    // first samples do not stall the reader (the perf_event engine would drop records meanwhile).
    void load_symbols();
    // Re-reads the maps when they may have changed (new libraries, new thread stacks).
    void refresh_if_stale();
    // Re-reads the maps unless they were read less than `age` ago.
    void refresh_if_stale(std::chrono::steady_clock::duration age);
    // The target mapped code since (a perf mmap record): until the maps are read again, a stack
    // with code outside every known module has them read at once, not after 100 ms.
    void note_maps_changed() { maps_changed_ = true; }
    // Re-reads the maps when the target mapped code since they were read, unless they were read
    // less than `age` ago (tried again at the next call, until they are).
    void refresh_if_changed(std::chrono::steady_clock::duration age) {
        if (maps_changed_)
            refresh_if_stale(age);
    }
    // The target is read through its thread `tid` from now on (see ModuleMap::read_through).
    void read_through(int tid);

    const ModuleMap& modules() const { return modules_; }
    // See Symbolizer::set_names_only.
    void set_names_only(std::set<std::string> functions) { symbolizer_.set_names_only(std::move(functions)); }

  private:
    void refresh();

    ModuleMap modules_;
    RemoteUnwinder unwinder_;
    Symbolizer symbolizer_;
    std::chrono::steady_clock::time_point last_refresh_;
    bool maps_changed_ = false;
};

} // namespace sampler

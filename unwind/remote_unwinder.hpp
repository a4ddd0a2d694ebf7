#pragma once
// Native stack unwinding with libunwind's remote API over a ThreadSnapshot. Stack reads come
// from the copied stack, unwind tables from our own mappings of the target's files: the target
// is never touched while unwinding.

#include "module_map.hpp"
#include "thread_snapshot.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace sampler {

struct StackAddress {
    std::uint64_t address = 0;
    bool is_return_address = false; // true for callers: the call instruction precedes it
};

enum class UnwindEnd {
    complete,  // reached the outermost frame
    truncated, // ran out of unwind info or copied stack before the outermost frame
    depth_limit,
};

struct UnwoundStack {
    std::vector<StackAddress> frames; // innermost first
    UnwindEnd end = UnwindEnd::complete;
};

class RemoteUnwinder {
  public:
    explicit RemoteUnwinder(const ModuleMap& modules);
    ~RemoteUnwinder();
    RemoteUnwinder(const RemoteUnwinder&) = delete;
    RemoteUnwinder& operator=(const RemoteUnwinder&) = delete;

    UnwoundStack unwind(const ThreadSnapshot& snapshot, std::size_t max_depth = 1024);
    // Forget cached unwind info, after the target's mappings changed.
    void flush_cache();

  private:
    // The common case without libunwind: every frame's CFI is compact (see CompactFrameRule).
    // nullopt when some frame's is not, or its code is in no known module.
    std::optional<UnwoundStack> unwind_with_compact_rules(const ThreadSnapshot& snapshot,
                                                          std::size_t max_depth);

    struct State;
    std::unique_ptr<State> state_;
};

} // namespace sampler

#pragma once
// The chain of coroutines an asyncio task runs through, innermost first, read out of target
// memory. A suspended coroutine inside `await` has the object it awaits on top of its frame's
// value stack: a coroutine or generator (followed), or a future (the end of the chain). A
// coroutine that runs now has its chain on its thread's stack instead: the coroutine frames from
// the innermost one up to its own. Bounded, cycle-checked; a frame that cannot be read ends the
// chain, marked truncated.

#include "asyncio_layout.hpp"
#include "container_reader.hpp"
#include "frame_walker.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sampler::python {

inline constexpr std::size_t max_chain_length = 256;  // coroutines per chain
inline constexpr std::size_t max_stack_frames = 4096; // thread frames looked at for a running chain

struct CoroutineChain {
    std::vector<PythonFrame> frames; // innermost first
    bool truncated = false;          // cut: too long, a cycle, or something unreadable
};

enum class GeneratorKind { none, coroutine, generator, async_generator };

class CoroutineChains {
  public:
    CoroutineChains(const AsyncioLayout& layout, const ObjectReader& objects, FrameWalker& walker,
                    const ContainerReader& containers, TypeNames& types)
        : layout_(layout), objects_(objects), walker_(walker), containers_(containers), types_(types) {}

    GeneratorKind kind(const RemoteMemory& memory, std::uint64_t object);
    // The qualified name of a coroutine (or generator), "Worker.run", as its repr shows it; of
    // any other awaitable, its type's name. A few reads; nullopt when unreadable.
    std::optional<std::string> name(const RemoteMemory& memory, std::uint64_t object);
    // The coroutine (or generator) is running now: its chain is on a thread's stack.
    bool executing(const RemoteMemory& memory, std::uint64_t coroutine);
    // The chain of a coroutine that is not running: followed through each `await`. Empty for a
    // finished coroutine.
    CoroutineChain suspended(const RemoteMemory& memory, std::uint64_t coroutine, std::uint64_t& errors);
    // The chain of a running coroutine, from the stack whose innermost frame is `innermost` (a
    // frame address, as the thread state gives it). Without its frame there: its own frame alone.
    CoroutineChain running(const RemoteMemory& memory, std::uint64_t coroutine, std::uint64_t innermost,
                           std::uint64_t& errors);

  private:
    enum class Status { unreadable, finished, created, suspended, executing };
    struct GeneratorState {
        Status status = Status::unreadable;
        std::uint64_t frame = 0;
        int raw_state = no_state; // gi_frame_state / f_state where the version has one
    };

    GeneratorState state(const RemoteMemory& memory, std::uint64_t generator);
    Status frame_object_status(const RemoteMemory& memory, std::uint64_t frame, int& raw_state);
    Status frame_state_status(int state) const;
    std::uint64_t awaited(const RemoteMemory& memory, const GeneratorState& state);
    bool in_yield_from(const RemoteMemory& memory, const GeneratorState& state);
    std::uint64_t stack_top(const RemoteMemory& memory, std::uint64_t frame);
    bool frame_of(const RemoteMemory& memory, std::uint64_t frame, PythonFrame& out, std::uint64_t& errors);
    // Walking a thread's frames: the next (outer) frame, and the generator a frame belongs to.
    std::uint64_t outer_frame(const RemoteMemory& memory, std::uint64_t frame, std::uint64_t& generator);

    const AsyncioLayout& layout_;
    const ObjectReader& objects_;
    FrameWalker& walker_;
    const ContainerReader& containers_;
    TypeNames& types_;
};

} // namespace sampler::python

#pragma once
// Where an asyncio event loop's thread is, told from its Python frames alone: waiting in the
// selector between callbacks, running one callback (a task's step or a plain callback), or in
// the loop's own code between the two. Pure: tested on made-up stacks.

#include "sampler/frame.hpp"

#include <cstddef>
#include <vector>

namespace sampler {

enum class LoopPhase {
    not_a_loop, // no BaseEventLoop._run_once on the stack
    waiting,    // in the selector's wait (select, poll, epoll): idle, never a stall
    loop_code,  // in _run_once itself: timers, events, between callbacks
    callback,   // inside Handle._run: one callback's run
};

struct LoopPosition {
    LoopPhase phase = LoopPhase::not_a_loop;
    // For a callback: the frames it runs, innermost first (what is inside Handle._run), the
    // asyncio task machinery (Task.__step) left out; their last one is the task's coroutine, or
    // the plain callback's function. Empty otherwise.
    std::vector<Frame> callback_frames;
};

// `innermost_first` may hold native frames too (--native): only Python frames are looked at.
LoopPosition loop_position(const std::vector<Frame>& innermost_first);

} // namespace sampler

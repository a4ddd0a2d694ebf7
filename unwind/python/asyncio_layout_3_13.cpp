// asyncio's structs in CPython 3.13 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module.
#include "asyncio_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_13() {
    static const AsyncioLayout layout = [] {
        AsyncioLayout l;
        l.minor = 13;
        l.future = {.state = 96, .fut_waiter = 112, .coro = 120, .name = 128};
        l.generator = {.iframe = 72, .frame_state = 67, .qualname = 32};
        l.frame = {.yield_from = YieldFromModel::frame_state,
                   .stack_count = 64,
                   .localsplus = 72,
                   .state_created = -3,
                   .state_suspended = -2,
                   .state_suspended_yield_from = -1,
                   .state_executing = 0,
                   .state_completed = 1};
        l.containers.long_tagged = true;
        l.scheduled_and_eager = true;
        return l;
    }();
    return layout;
}

} // namespace sampler::python

// asyncio's structs in CPython 3.10 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module.
#include "asyncio_layout.hpp"
#include "python_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_10() {
    static const AsyncioLayout layout = [] {
        const FrameObjectLayout& frame_object = layout_3_10().frame_object; // the frame walker's
        AsyncioLayout l;
        l.minor = 10;
        l.future = {.state = 88, .fut_waiter = 152, .coro = 160, .name = 168};
        l.generator = {.frame = 16, .qualname = 48};
        l.frame = {.yield_from = YieldFromModel::next_opcode,
                   .gen = 88,
                   .valuestack = 64,
                   .stackdepth = 80,
                   .state = frame_object.state,
                   .code_bytes = 48,
                   .state_created = -2,
                   .state_suspended = -1,
                   .state_executing = frame_object.state_executing,
                   .state_completed = 1,
                   .yield_from_opcode = 72};
        return l;
    }();
    return layout;
}

} // namespace sampler::python

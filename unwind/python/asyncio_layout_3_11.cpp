// asyncio's structs in CPython 3.11 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module. Debian's static python3.11 has the same.
#include "asyncio_layout.hpp"
#include "python_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_11() {
    static const AsyncioLayout layout = [] {
        const InterpreterFrameLayout& frame = layout_3_11().interp_frame; // the frame walker's
        AsyncioLayout l;
        l.minor = 11;
        l.future = {.state = 88, .fut_waiter = 128, .coro = 136, .name = 144};
        l.generator = {
            .iframe = frame.generator_iframe, .frame_state = frame.generator_frame_state, .qualname = 40};
        l.frame = {.yield_from = YieldFromModel::next_resume,
                   .stack_count = 64,
                   .localsplus = 72,
                   .state_created = -2,
                   .state_suspended = -1,
                   .state_executing = frame.generator_executing,
                   .state_completed = 1,
                   .resume_opcode = 151,
                   .resume_variant = 150};
        return l;
    }();
    return layout;
}

} // namespace sampler::python

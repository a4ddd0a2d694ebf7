// asyncio's structs in CPython 3.8 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module.
#include "asyncio_layout.hpp"
#include "python_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_8() {
    static const AsyncioLayout layout = [] {
        AsyncioLayout l;
        l.minor = 8;
        l.future = {.state = 72, .fut_waiter = 104, .coro = 112, .name = 120};
        l.generator = {.frame = 16, .qualname = 56};
        l.frame = {.yield_from = YieldFromModel::next_opcode,
                   .gen = 96,
                   .stacktop = layout_3_8().frame_object.stacktop, // the frame walker reads it too
                   .executing = 116,
                   .code_bytes = 48,
                   .yield_from_opcode = 72};
        return l;
    }();
    return layout;
}

} // namespace sampler::python

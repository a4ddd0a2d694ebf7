// asyncio's structs in CPython 3.9 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module.
#include "asyncio_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_9() {
    static const AsyncioLayout layout = [] {
        AsyncioLayout l = asyncio_layout_3_8(); // generators and frames are 3.8's
        l.minor = 9;
        l.future = {.state = 80, .fut_waiter = 144, .coro = 152, .name = 160};
        return l;
    }();
    return layout;
}

} // namespace sampler::python

// asyncio's structs in CPython 3.12 (x86-64), measured with gdb against the DWARF of the pyenv
// build's libpython and _asyncio module.
#include "asyncio_layout.hpp"

namespace sampler::python {

const AsyncioLayout& asyncio_layout_3_12() {
    static const AsyncioLayout layout = [] {
        AsyncioLayout l = asyncio_layout_3_11(); // the Task and the frames are 3.11's
        l.minor = 12;
        l.generator = {.iframe = 72, .frame_state = 67, .qualname = 32};
        l.frame.resume_variant = 240;
        l.containers.long_tagged = true;
        l.scheduled_and_eager = true;
        return l;
    }();
    return layout;
}

} // namespace sampler::python

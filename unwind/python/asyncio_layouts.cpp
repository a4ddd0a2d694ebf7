#include "asyncio_layout.hpp"

namespace sampler::python {

const AsyncioLayout* asyncio_layout_for(int major, int minor) {
    if (major != 3)
        return nullptr;
    switch (minor) {
    case 8:
        return &asyncio_layout_3_8();
    case 9:
        return &asyncio_layout_3_9();
    case 10:
        return &asyncio_layout_3_10();
    case 11:
        return &asyncio_layout_3_11();
    case 12:
        return &asyncio_layout_3_12();
    case 13:
        return &asyncio_layout_3_13();
    default:
        return nullptr;
    }
}

} // namespace sampler::python

#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout* layout_for(int major, int minor) {
    if (major == 2)
        return minor == 7 ? &layout_2_7() : nullptr;
    if (major != 3)
        return nullptr;
    switch (minor) {
    case 6:
        return &layout_3_6();
    case 7:
        return &layout_3_7();
    case 8:
        return &layout_3_8();
    case 9:
        return &layout_3_9();
    case 10:
        return &layout_3_10();
    case 11:
        return &layout_3_11();
    case 12:
        return &layout_3_12();
    case 13:
        return &layout_3_13();
    default:
        return nullptr;
    }
}

} // namespace sampler::python

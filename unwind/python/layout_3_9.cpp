// CPython 3.9 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_9() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 9;
        l.line_table = LineTableFormat::lnotab;
        l.runtime = {.interpreters_head = 32, .tstate_current = 568};
        l.interp = {.next = 0, .threads_head = 8, .modules = 856};
        l.tstate = {.next = 8, .interp = 16, .frame = 24, .thread_id = 176};
        l.frame_object = {.back = 24, .code = 32, .lasti = 104, .stacktop = 72};
        l.code = {.firstlineno = 40, .filename = 104, .name = 112, .linetable = 120, .flags = 36};
        l.dict = dict_layout_3_6_to_3_10();
        return l;
    }();
    return layout;
}

} // namespace sampler::python

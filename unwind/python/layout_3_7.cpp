// CPython 3.7 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_7() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 7;
        l.line_table = LineTableFormat::lnotab;
        l.runtime = {.interpreters_head = 24, .tstate_current = 1480};
        l.interp = {.next = 0, .threads_head = 8, .modules = 40};
        l.tstate = {.next = 8, .interp = 16, .frame = 24, .thread_id = 176};
        l.frame_object = {.back = 24, .code = 32, .lasti = 104, .stacktop = 72};
        l.code = {.firstlineno = 36, .filename = 96, .name = 104, .linetable = 112, .flags = 32};
        l.dict = dict_layout_3_6_to_3_10();
        return l;
    }();
    return layout;
}

} // namespace sampler::python

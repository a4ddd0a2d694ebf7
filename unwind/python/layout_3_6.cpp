// CPython 3.6 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_6() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 6;
        l.entry = EntryModel::interp_head;
        l.frames = FrameModel::frame_object;
        l.line_table = LineTableFormat::lnotab;
        l.gil_model = GilModel::current_symbol;
        l.interp = {.next = 0, .threads_head = 8, .modules = 16};
        l.tstate = {.next = 8, .interp = 16, .frame = 24, .thread_id = 152};
        l.frame_object = {.back = 24, .code = 32, .lasti = 120, .stacktop = 72};
        l.code = {.firstlineno = 36, .filename = 96, .name = 104, .linetable = 112, .flags = 32};
        l.dict = dict_layout_3_6_to_3_10();
        return l;
    }();
    return layout;
}

} // namespace sampler::python

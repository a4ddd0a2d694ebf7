// CPython 2.7 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_2_7() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 2;
        l.minor = 7;
        l.entry = EntryModel::interp_head;
        l.frames = FrameModel::frame_object;
        l.line_table = LineTableFormat::lnotab_unsigned;
        l.gil_model = GilModel::current_symbol;
        l.interp = {.next = 0, .threads_head = 8, .modules = 16};
        l.tstate = {.next = 0, .interp = 8, .frame = 16, .thread_id = 144};
        l.frame_object = {.back = 24, .code = 32, .lasti = 120, .stacktop = 72};
        l.code = {.firstlineno = 96, .filename = 80, .name = 88, .linetable = 104, .flags = 28};
        l.strings.py2_bytes = true;
        l.strings.bytes_data = 36;
        l.dict = dict_layout_2_7();
        return l;
    }();
    return layout;
}

} // namespace sampler::python

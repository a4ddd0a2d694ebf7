// CPython 3.12 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_12() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 12;
        l.frames = FrameModel::interpreter_frame;
        l.line_table = LineTableFormat::location_table;
        l.gil_model = GilModel::interpreter_gil;
        l.runtime = {.interpreters_head = 40};
        l.interp = {.next = 0, .threads_head = 72, .modules = 944, .gil_pointer = 384};
        l.gil = {.last_holder = 8, .locked = 16};
        l.tstate = {.next = 8,
                    .interp = 16,
                    .frame = 56,
                    .cframe_current_frame = 0,
                    .thread_id = 136,
                    .native_thread_id = 144};
        l.interp_frame = {.code = 0, .previous = 8, .instr = 56, .owner = 70, .owner_cstack = 3};
        l.code = {.firstlineno = 68,
                  .filename = 112,
                  .name = 120,
                  .qualname = 128,
                  .linetable = 136,
                  .code_adaptive = 192,
                  .firsttraceable = 176};
        l.strings.unicode_ascii_data = 40;
        l.strings.unicode_compact_data = 56;
        l.dict = dict_layout_3_11_to_3_12();
        l.type.cached_keys = 880;
        l.type.instance_dict = InstanceDictModel::dict_or_values;
        return l;
    }();
    return layout;
}

} // namespace sampler::python

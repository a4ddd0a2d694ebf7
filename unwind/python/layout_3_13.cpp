// CPython 3.13 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_13() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 13;
        l.frames = FrameModel::interpreter_frame;
        l.line_table = LineTableFormat::location_table;
        l.gil_model = GilModel::interpreter_gil;
        l.runtime = {.interpreters_head = 632};
        l.interp = {.next = 7264, .threads_head = 7344, .modules = 7656, .gil_pointer = 16};
        l.gil = {.last_holder = 8, .locked = 16};
        l.tstate = {.next = 8, .interp = 16, .frame = 72, .thread_id = 152, .native_thread_id = 160};
        l.interp_frame = {.code = 0, .previous = 8, .instr = 56, .owner = 70, .owner_cstack = 3};
        l.code = {.firstlineno = 68,
                  .filename = 112,
                  .name = 120,
                  .qualname = 128,
                  .linetable = 136,
                  .code_adaptive = 200,
                  .firsttraceable = 184};
        l.strings.unicode_ascii_data = 40;
        l.strings.unicode_compact_data = 56;
        l.dict = dict_layout_3_13();
        l.type.cached_keys = 880;
        l.type.instance_dict = InstanceDictModel::inline_values;
        return l;
    }();
    return layout;
}

} // namespace sampler::python

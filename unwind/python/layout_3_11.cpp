// CPython 3.11 struct offsets (x86-64), measured with gdb against the DWARF of the pyenv build.
#include "python_layout.hpp"

namespace sampler::python {

const PythonLayout& layout_3_11() {
    static const PythonLayout layout = [] {
        PythonLayout l;
        l.major = 3;
        l.minor = 11;
        l.frames = FrameModel::interpreter_frame;
        l.line_table = LineTableFormat::location_table;
        l.runtime = {.interpreters_head = 40, .tstate_current = 576};
        l.interp = {.next = 0, .threads_head = 16, .modules = 888};
        l.tstate = {.next = 8,
                    .interp = 16,
                    .frame = 56,
                    .cframe_current_frame = 8,
                    .thread_id = 152,
                    .native_thread_id = 160};
        l.interp_frame = {.code = 32,
                          .previous = 48,
                          .instr = 56,
                          .owner = 69,
                          .is_entry = 68,
                          .generator_iframe = 80,
                          .generator_frame_state = 75};
        l.code = {.firstlineno = 72,
                  .filename = 112,
                  .name = 120,
                  .qualname = 128,
                  .linetable = 136,
                  .code_adaptive = 184,
                  .firsttraceable = 168};
        l.dict = dict_layout_3_11_to_3_12();
        l.type.cached_keys = 872;
        l.type.instance_dict = InstanceDictModel::managed_311;
        return l;
    }();
    return layout;
}

} // namespace sampler::python

#include "debug_offsets.hpp"

#include <cstring>

namespace sampler::python {
namespace {

// Byte positions of the fields we use inside _Py_DebugOffsets, per version of that struct.
// 3.14 added fields in the middle (interpreter_state.threads_main, interpreter_frame's
// stackpointer and tlbc_index, code_object.co_tlbc, set_object), which moves everything after.
struct DebugOffsetsPositions {
    int runtime_interpreters_head;
    int interp_size, interp_next, interp_threads_head, interp_ceval_gil, interp_gil_runtime_state,
        interp_gil_locked, interp_gil_holder;
    int tstate_size, tstate_next, tstate_interp, tstate_current_frame, tstate_thread_id,
        tstate_native_thread_id;
    int frame_size, frame_previous, frame_executable, frame_instr_ptr, frame_owner;
    int code_size, code_filename, code_name, code_qualname, code_linetable, code_firstlineno, code_adaptive;
    int pyobject_ob_type;
    int bytes_ob_size, bytes_ob_sval;
    int unicode_state, unicode_length, unicode_ascii_size;
    int struct_size; // bytes of the struct we need to have read
    int interp_imports_modules, type_size, type_flags, dict_size, dict_keys, dict_values;
};

constexpr DebugOffsetsPositions positions_3_13{
    40,  48,  64,  72,  112, 120, 136, 144, 152, 168, 176, 184, 192, 200, 224, 232, 240, 248, 264, 272,
    280, 288, 296, 304, 312, 344, 360, 520, 528, 544, 552, 560, 584, 88,  368, 392, 448, 456, 464,
};

constexpr DebugOffsetsPositions positions_3_14{
    40,  48,  64,  72,  120, 128, 144, 152, 176, 192, 200, 208, 216, 224, 248, 256, 264, 272, 288, 312,
    320, 328, 336, 344, 352, 384, 408, 600, 608, 624, 632, 640, 760, 96,  416, 440, 528, 536, 544,
};

std::uint64_t u64_at(std::span<const std::uint8_t> bytes, int position) {
    std::uint64_t value = 0;
    if (position >= 0 && static_cast<std::size_t>(position) + 8 <= bytes.size())
        std::memcpy(&value, bytes.data() + position, 8);
    return value;
}

} // namespace

std::optional<std::uint64_t> debug_offsets_version(std::span<const std::uint8_t> runtime_start) {
    if (runtime_start.size() < 16 || std::memcmp(runtime_start.data(), debug_offsets_cookie, 8) != 0)
        return std::nullopt;
    return u64_at(runtime_start, 8);
}

std::string format_version_hex(std::uint64_t hex) {
    std::string text = std::to_string((hex >> 24) & 0xff) + "." + std::to_string((hex >> 16) & 0xff) + "." +
                       std::to_string((hex >> 8) & 0xff);
    unsigned level = (hex >> 4) & 0xf;
    unsigned serial = hex & 0xf;
    if (level == 0xa)
        text += "a" + std::to_string(serial);
    else if (level == 0xb)
        text += "b" + std::to_string(serial);
    else if (level == 0xc)
        text += "rc" + std::to_string(serial);
    return text;
}

std::optional<PythonLayout> layout_from_debug_offsets(std::span<const std::uint8_t> runtime_start,
                                                      std::string* why_not) {
    auto fail = [&](const std::string& why) -> std::optional<PythonLayout> {
        if (why_not)
            *why_not = why;
        return std::nullopt;
    };
    auto version = debug_offsets_version(runtime_start);
    if (!version)
        return fail("no _Py_DebugOffsets cookie at the start of _PyRuntime");
    int major = static_cast<int>((*version >> 24) & 0xff);
    int minor = static_cast<int>((*version >> 16) & 0xff);
    if (major != 3 || minor < 13)
        return fail("_Py_DebugOffsets of unexpected version " + format_version_hex(*version));
    if (minor > 14)
        return fail(
            "CPython " + format_version_hex(*version) +
            " is not supported yet: its _Py_DebugOffsets layout is unknown (supported: 2.7, 3.6-3.14)");
    if (u64_at(runtime_start, 16) != 0)
        return fail("free-threaded CPython " + format_version_hex(*version) + " is not supported");
    const DebugOffsetsPositions& p = minor == 13 ? positions_3_13 : positions_3_14;
    if (runtime_start.size() < static_cast<std::size_t>(p.struct_size))
        return fail("_Py_DebugOffsets truncated");

    // Every offset must lie inside its struct, whose size the struct also gives.
    bool in_range = true;
    auto offset_in = [&](int position, std::uint64_t struct_size, int field_size) {
        std::uint64_t value = u64_at(runtime_start, position);
        if (value + static_cast<std::uint64_t>(field_size) > struct_size || struct_size > (1u << 24)) {
            in_range = false;
            return absent;
        }
        return static_cast<int>(value);
    };
    std::uint64_t interp_size = u64_at(runtime_start, p.interp_size);
    std::uint64_t tstate_size = u64_at(runtime_start, p.tstate_size);
    std::uint64_t frame_size = u64_at(runtime_start, p.frame_size);
    std::uint64_t code_size = u64_at(runtime_start, p.code_size);
    std::uint64_t runtime_size = u64_at(runtime_start, 24);
    std::uint64_t type_size = u64_at(runtime_start, p.type_size);
    std::uint64_t dict_size = u64_at(runtime_start, p.dict_size);
    constexpr std::uint64_t small_object = 256; // PyObject headers, bytes and str headers

    PythonLayout layout = layout_3_13();
    layout.minor = minor;
    layout.runtime.interpreters_head = offset_in(p.runtime_interpreters_head, runtime_size, 8);
    layout.interp.next = offset_in(p.interp_next, interp_size, 8);
    layout.interp.threads_head = offset_in(p.interp_threads_head, interp_size, 8);
    layout.interp.gil_pointer = offset_in(p.interp_ceval_gil, interp_size, 8);
    layout.interp.modules = offset_in(p.interp_imports_modules, interp_size, 8);
    layout.type.flags = offset_in(p.type_flags, type_size, 8);
    layout.dict.keys = offset_in(p.dict_keys, dict_size, 8);
    layout.dict.values = offset_in(p.dict_values, dict_size, 8);
    // The GIL's own fields, relative to the _gil_runtime_state the interpreter embeds.
    int gil_state = offset_in(p.interp_gil_runtime_state, interp_size, 0);
    int gil_locked = offset_in(p.interp_gil_locked, interp_size, 4);
    int gil_holder = offset_in(p.interp_gil_holder, interp_size, 8);
    if (in_range && gil_locked >= gil_state && gil_holder >= gil_state) {
        layout.gil.locked = gil_locked - gil_state;
        layout.gil.last_holder = gil_holder - gil_state;
    }
    layout.tstate.next = offset_in(p.tstate_next, tstate_size, 8);
    layout.tstate.interp = offset_in(p.tstate_interp, tstate_size, 8);
    layout.tstate.frame = offset_in(p.tstate_current_frame, tstate_size, 8);
    layout.tstate.cframe_current_frame = absent;
    layout.tstate.thread_id = offset_in(p.tstate_thread_id, tstate_size, 8);
    layout.tstate.native_thread_id = offset_in(p.tstate_native_thread_id, tstate_size, 8);
    layout.interp_frame.previous = offset_in(p.frame_previous, frame_size, 8);
    layout.interp_frame.code = offset_in(p.frame_executable, frame_size, 8);
    layout.interp_frame.instr = offset_in(p.frame_instr_ptr, frame_size, 8);
    layout.interp_frame.owner = offset_in(p.frame_owner, frame_size, 1);
    layout.code.filename = offset_in(p.code_filename, code_size, 8);
    layout.code.name = offset_in(p.code_name, code_size, 8);
    layout.code.qualname = offset_in(p.code_qualname, code_size, 8);
    layout.code.linetable = offset_in(p.code_linetable, code_size, 8);
    layout.code.firstlineno = offset_in(p.code_firstlineno, code_size, 4);
    layout.code.code_adaptive = offset_in(p.code_adaptive, code_size, 0);
    layout.ob_type = offset_in(p.pyobject_ob_type, small_object, 8);
    layout.strings.bytes_size = offset_in(p.bytes_ob_size, small_object, 8);
    layout.strings.bytes_data = offset_in(p.bytes_ob_sval, small_object, 0);
    layout.strings.unicode_state = offset_in(p.unicode_state, small_object, 4);
    layout.strings.unicode_length = offset_in(p.unicode_length, small_object, 8);
    layout.strings.unicode_ascii_data = offset_in(p.unicode_ascii_size, small_object, 0);
    if (!in_range)
        return fail("_Py_DebugOffsets of CPython " + format_version_hex(*version) +
                    " holds out-of-range offsets");
    // sizeof(PyCompactUnicodeObject) = PyASCIIObject + utf8_length + utf8 (3.12+: no wstr).
    layout.strings.unicode_compact_data = layout.strings.unicode_ascii_data + 16;
    if (minor == 13) {
        // _co_firsttraceable is not published; in 3.13 it sits 16 bytes before the bytecode.
        layout.code.firsttraceable = layout.code.code_adaptive - 16;
    } else {
        // 3.14: unknown position, so frames still in their prologue are not hidden; f_executable
        // is a tagged _PyStackRef; the owner values moved (INTERPRETER 3, CSTACK 4: both shims).
        layout.code.firsttraceable = absent;
        layout.interp_frame.code_is_tagged = true;
        layout.interp_frame.owner_cstack = 3;
        // Not published and not measured: instances whose attributes live only in split values
        // are not read (thread names then fall back to the OS names).
        layout.type.cached_keys = absent;
    }
    return layout;
}

} // namespace sampler::python

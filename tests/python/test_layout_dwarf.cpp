// The per-version offset tables (unwind/python/layout_*.cpp) against the DWARF of each pyenv
// libpython, read with gdb: every table entry must equal offsetof() of its field. Skipped with a
// message when gdb or an interpreter is missing.

#include "dwarf_fields.hpp"
#include "interpreters.hpp"
#include "python_layout.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>

using namespace sampler::python;
using namespace sampler::testing;

namespace {

using Field = DwarfField;

// What thread names need: sys.modules, module dicts, dicts of every kind, instance dicts.
void add_object_fields(const PythonLayout& l, std::vector<Field>& f) {
    auto add = [&](const std::string& type, const std::string& member, int expected) {
        if (expected != absent)
            f.push_back({offset_of(type, member), expected});
    };
    const DictLayout& d = l.dict;
    add("PyModuleObject", "md_dict", l.module_dict);
    add("PyTypeObject", "tp_basicsize", l.type.basicsize);
    add("PyTypeObject", "tp_flags", l.type.flags);
    add("PyTypeObject", "tp_dictoffset", l.type.dictoffset);
    add("PyHeapTypeObject", "ht_cached_keys", l.type.cached_keys);
    add("PyDictObject", "ma_mask", d.mask);
    add("PyDictObject", "ma_table", d.table);
    add("PyDictObject", "ma_keys", d.keys);
    add("PyDictObject", "ma_values", d.values);
    add("PyDictKeysObject", "dk_size", d.keys_size);
    add("PyDictKeysObject", "dk_log2_size", d.keys_log2_size);
    add("PyDictKeysObject", "dk_log2_index_bytes", d.keys_log2_index_bytes);
    add("PyDictKeysObject", "dk_kind", d.keys_kind);
    add("PyDictKeysObject", "dk_nentries", d.keys_nentries);
    add("PyDictKeysObject", "dk_indices", d.keys_indices);
    // The dict reader assumes {hash, key, value} and {key, value} entries.
    const std::string entry = d.model == DictModel::open_table ? "PyDictEntry" : "PyDictKeyEntry";
    f.push_back({"sizeof(" + entry + ")", d.entry_size});
    f.push_back({offset_of(entry, "me_hash"), 0});
    f.push_back({offset_of(entry, "me_key"), 8});
    f.push_back({offset_of(entry, "me_value"), 16});
    if (d.unicode_entry_size != absent) {
        f.push_back({"sizeof(PyDictUnicodeEntry)", d.unicode_entry_size});
        f.push_back({offset_of("PyDictUnicodeEntry", "me_key"), 0});
        f.push_back({offset_of("PyDictUnicodeEntry", "me_value"), 8});
        f.push_back({"DICT_KEYS_GENERAL", 0});
        f.push_back({"DICT_KEYS_UNICODE", 1});
        f.push_back({"DICT_KEYS_SPLIT", 2});
    }
    if (d.model != DictModel::open_table && d.model != DictModel::indexed_keys)
        add("PyDictValues", "values", d.values_array);
    add("PyDictValues", "capacity", d.values_capacity);
    add("PyDictValues", "valid", d.values_valid);
}

std::vector<Field> fields_to_check(const PythonLayout& l) {
    const int minor = l.major == 2 ? 0 : l.minor; // 2.7 behaves as "before 3.6" below
    const bool frame_objects = l.frames == FrameModel::frame_object;
    std::vector<Field> f;
    auto add = [&](const std::string& type, const std::string& member, int expected) {
        if (expected != absent)
            f.push_back({offset_of(type, member), expected});
    };
    add("PyObject", "ob_type", l.ob_type);
    if (l.entry == EntryModel::runtime) {
        add("_PyRuntimeState", "interpreters.head", l.runtime.interpreters_head);
        add("_PyRuntimeState", "gilstate.tstate_current", l.runtime.tstate_current);
    }
    add("PyInterpreterState", "next", l.interp.next);
    add("PyInterpreterState", minor >= 11 ? "threads.head" : "tstate_head", l.interp.threads_head);
    add("PyInterpreterState", minor >= 12 ? "imports.modules" : "modules", l.interp.modules);
    add("PyInterpreterState", "ceval.gil", l.interp.gil_pointer);
    add("struct _gil_runtime_state", "last_holder", l.gil.last_holder);
    add("struct _gil_runtime_state", "locked", l.gil.locked);
    add("PyThreadState", "next", l.tstate.next);
    add("PyThreadState", "interp", l.tstate.interp);
    add("PyThreadState", minor >= 13 ? "current_frame" : minor >= 11 ? "cframe" : "frame", l.tstate.frame);
    add("_PyCFrame", "current_frame", l.tstate.cframe_current_frame);
    add("PyThreadState", "thread_id", l.tstate.thread_id);
    add("PyThreadState", "native_thread_id", l.tstate.native_thread_id);
    if (frame_objects) {
        add("PyFrameObject", "f_back", l.frame_object.back);
        add("PyFrameObject", "f_code", l.frame_object.code);
        add("PyFrameObject", "f_lasti", l.frame_object.lasti);
        add("PyFrameObject", "f_stacktop", l.frame_object.stacktop);
        add("PyFrameObject", "f_state", l.frame_object.state);
        if (l.frame_object.state != absent) {
            f.push_back({"sizeof(((PyFrameObject*)0)->f_state)", 1});
            f.push_back({"(int)FRAME_EXECUTING", l.frame_object.state_executing});
        }
    } else {
        add("_PyInterpreterFrame", minor >= 13 ? "f_executable" : "f_code", l.interp_frame.code);
        add("_PyInterpreterFrame", "previous", l.interp_frame.previous);
        add("_PyInterpreterFrame", minor >= 13 ? "instr_ptr" : "prev_instr", l.interp_frame.instr);
        add("_PyInterpreterFrame", "owner", l.interp_frame.owner);
        add("_PyInterpreterFrame", "is_entry", l.interp_frame.is_entry);
        f.push_back({"FRAME_OWNED_BY_GENERATOR", l.interp_frame.owner_generator});
        if (l.interp_frame.owner_cstack != absent)
            f.push_back({"FRAME_OWNED_BY_CSTACK", l.interp_frame.owner_cstack});
        add("PyGenObject", "gi_iframe", l.interp_frame.generator_iframe);
        add("PyGenObject", "gi_frame_state", l.interp_frame.generator_frame_state);
        if (l.interp_frame.generator_frame_state != absent) {
            f.push_back({"sizeof(((PyGenObject*)0)->gi_frame_state)", 1});
            f.push_back({"(int)FRAME_EXECUTING", l.interp_frame.generator_executing});
        }
    }
    add("PyCodeObject", "co_firstlineno", l.code.firstlineno);
    add("PyCodeObject", "co_filename", l.code.filename);
    add("PyCodeObject", "co_name", l.code.name);
    add("PyCodeObject", "co_qualname", l.code.qualname);
    add("PyCodeObject", minor >= 10 ? "co_linetable" : "co_lnotab", l.code.linetable);
    add("PyCodeObject", "co_code_adaptive", l.code.code_adaptive);
    add("PyCodeObject", "_co_firsttraceable", l.code.firsttraceable);
    add("PyCodeObject", "co_flags", l.code.flags);
    if (l.strings.py2_bytes) {
        add("PyStringObject", "ob_size", l.strings.bytes_size);
        add("PyStringObject", "ob_sval", l.strings.bytes_data);
    } else {
        add("PyBytesObject", "ob_base.ob_size", l.strings.bytes_size);
        add("PyBytesObject", "ob_sval", l.strings.bytes_data);
        add("PyASCIIObject", "length", l.strings.unicode_length);
        add("PyASCIIObject", "state", l.strings.unicode_state);
        f.push_back({"sizeof(PyASCIIObject)", l.strings.unicode_ascii_data});
        f.push_back({"sizeof(PyCompactUnicodeObject)", l.strings.unicode_compact_data});
    }
    add_object_fields(l, f);
    return f;
}

void check_against_dwarf(const PythonLayout& layout) {
    const std::string version = layout.name();
    if (!have_gdb())
        skip_test("gdb is not installed (Debian package gdb)");
    auto interpreter = find_pyenv_interpreter(version);
    auto library = interpreter ? pyenv_libpython(*interpreter) : std::nullopt;
    if (!library)
        skip_test("no pyenv libpython for CPython " + version);
    check_fields_with_gdb(*library, fields_to_check(layout), "CPython " + version);
}

} // namespace

TEST_CASE("2.7 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_2_7());
}
TEST_CASE("3.6 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_6());
}
TEST_CASE("3.7 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_7());
}
TEST_CASE("3.8 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_8());
}
TEST_CASE("3.9 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_9());
}
TEST_CASE("3.10 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_10());
}
TEST_CASE("3.11 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_11());
}
TEST_CASE("3.12 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_12());
}
TEST_CASE("3.13 offsets match DWARF", "[python][dwarf]") {
    check_against_dwarf(layout_3_13());
}

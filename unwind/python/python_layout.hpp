#pragma once
// Where the fields a stack reader needs live inside one CPython version's structs (x86-64,
// default non-debug, GIL build). One table per minor version (layout_*.cpp), measured against the
// DWARF of that version's libpython and checked by tests/python/test_layout_dwarf.cpp. Offsets
// are bytes from the start of the struct; `absent` marks a field the version does not have.

#include <cstdint>
#include <string>

namespace sampler::python {

inline constexpr int absent = -1;

// How the interpreter list is reached from the module's globals.
enum class EntryModel {
    interp_head, // 2.7, 3.6: static `interp_head` (PyInterpreterState*), LOCAL in .symtab
    runtime,     // 3.7+: `_PyRuntime.interpreters.head`
};

// Where Python frames live.
enum class FrameModel {
    frame_object,      // <= 3.10: heap PyFrameObject chained by f_back; each is its own eval call
    interpreter_frame, // 3.11+: _PyInterpreterFrame chained by `previous`
};

enum class LineTableFormat {
    lnotab_unsigned, // 2.7 co_lnotab: (addr delta, line delta) unsigned byte pairs
    lnotab,          // 3.6-3.9 co_lnotab: line delta is a signed byte
    linetable_310,   // 3.10 co_linetable: (end delta, line delta) pairs, -128 = no line
    location_table,  // 3.11+ co_linetable: variable-length location entries
};

// Where the thread holding the GIL is recorded.
enum class GilModel {
    current_symbol,         // 2.7, 3.6: exported `_PyThreadState_Current` (PyThreadState*)
    runtime_tstate_current, // 3.7-3.11: _PyRuntime.gilstate.tstate_current
    interpreter_gil,        // 3.12+: interp->ceval.gil -> {last_holder, locked}
};

struct RuntimeLayout {
    int interpreters_head = absent; // PyInterpreterState* (3.7+)
    int tstate_current = absent;    // PyThreadState* holding the GIL (3.7-3.11)
};

struct InterpreterLayout {
    int next = absent;
    int threads_head = absent;
    int modules = absent;     // sys.modules (interp->modules, 3.12+ imports.modules): a dict
    int gil_pointer = absent; // interp->ceval.gil (3.12+)
};

struct GilLayout { // _gil_runtime_state (3.12+)
    int last_holder = absent;
    int locked = absent; // int
};

struct ThreadStateLayout {
    int next = absent;
    int interp = absent;
    int frame = absent;                // PyFrameObject* / _PyCFrame* / _PyInterpreterFrame*
    int cframe_current_frame = absent; // inside _PyCFrame (3.11, 3.12); absent: `frame` is direct
    int thread_id = absent;            // pthread_t
    int native_thread_id = absent;     // OS tid (3.11+)
};

struct FrameObjectLayout { // PyFrameObject (<= 3.10)
    int back = absent;
    int code = absent;
    int lasti = absent;               // int
    bool lasti_in_code_units = false; // 3.10: index of a 2-byte code unit, -1 before the first
    // Whether a generator's frame runs: f_stacktop is NULL while it runs (<= 3.9); f_state
    // (int8, 3.10) is state_executing.
    int stacktop = absent;
    int state = absent;
    int state_executing = 0;
};

struct InterpreterFrameLayout { // _PyInterpreterFrame (3.11+)
    int code = absent;          // f_code / f_executable
    int previous = absent;
    int instr = absent;    // prev_instr (3.11, 3.12) or instr_ptr (3.13+)
    int owner = absent;    // char
    int is_entry = absent; // bool (3.11 only)
    int owner_generator = 1;
    int owner_cstack = absent; // frames owned by the C stack (shims) start here (3.12+)
    // A generator-owned frame lies inside its PyGenObject (gi_iframe), next to the generator's
    // state (gi_frame_state, int8; state_executing while it runs). Read where no shim frame
    // tells a running generator from a suspended one (3.11).
    int generator_iframe = absent;
    int generator_frame_state = absent;
    int generator_executing = 0;
    bool code_is_tagged = false; // 3.14: _PyStackRef, low bits are tags
};

struct CodeLayout {           // PyCodeObject
    int firstlineno = absent; // int
    int filename = absent;
    int name = absent;
    int qualname = absent;       // 3.11+
    int linetable = absent;      // co_lnotab / co_linetable (bytes)
    int code_adaptive = absent;  // inline bytecode (3.11+)
    int firsttraceable = absent; // int (3.11+)
    int flags = absent;          // co_flags (int), <= 3.10: which code runs as a generator (3.11+:
                                 // its frame's owner says so)
};

// How a dict stores its entries.
enum class DictModel {
    open_table,   // 2.7: ma_mask, ma_table of (hash, key, value) slots
    indexed_keys, // 3.6-3.10: PyDictKeysObject, dk_size index slots of 1/2/4/8 bytes, then entries
    kinds_keys,   // 3.11+: dk_log2_size, dk_log2_index_bytes, dk_kind (general or unicode entries)
};

// Where an object's attribute dict lives, beyond the type's tp_dictoffset.
enum class InstanceDictModel {
    dict_offset,    // <= 3.10: a PyDictObject* at tp_dictoffset
    managed_311,    // Py_TPFLAGS_MANAGED_DICT: dict at obj-24, else split values at obj-32
    dict_or_values, // 3.12: obj-24 holds a dict, or (low bit set) the split values + 1
    inline_values,  // 3.13+: Py_TPFLAGS_INLINE_VALUES: values at obj+tp_basicsize; else dict at obj-24
};

struct DictLayout {
    DictModel model = DictModel::indexed_keys;
    int mask = absent;           // ma_mask (2.7)
    int table = absent;          // ma_table (2.7)
    int keys = absent;           // ma_keys (3.6+)
    int values = absent;         // ma_values (3.6+): PyObject** (<= 3.10) or PyDictValues*
    int keys_size = absent;      // dk_size (3.6-3.10)
    int keys_log2_size = absent; // u8 (3.11+)
    int keys_log2_index_bytes = absent;
    int keys_kind = absent;          // u8: 0 general, 1 unicode, 2 split (3.11+)
    int keys_nentries = absent;      // dk_nentries (3.6+)
    int keys_indices = absent;       // dk_indices (3.6+)
    int entry_size = 24;             // PyDictEntry / PyDictKeyEntry {hash, key, value}
    int unicode_entry_size = absent; // PyDictUnicodeEntry {key, value} (3.11+)
    int values_array = 0;            // PyDictValues.values (3.13: after capacity, size, embedded, valid)
    int values_capacity = absent;    // u8 (3.13+)
    int values_valid = absent;       // u8 (3.13+)
};

struct TypeObjectLayout {
    int basicsize = 32;
    int flags = 168;
    int dictoffset = 288;
    int cached_keys = absent; // PyHeapTypeObject.ht_cached_keys: keys of split instance dicts (3.11+)
    InstanceDictModel instance_dict = InstanceDictModel::dict_offset;
};

struct StringLayout {
    bool py2_bytes = false;        // 2.7: names are PyStringObject (bytes)
    int bytes_size = 16;           // PyBytesObject/PyStringObject ob_size
    int bytes_data = 32;           // ob_sval (36 in 2.7)
    int unicode_length = 16;       // PyASCIIObject.length
    int unicode_state = 32;        // PyASCIIObject.state (u32)
    int unicode_ascii_data = 48;   // sizeof(PyASCIIObject)
    int unicode_compact_data = 72; // sizeof(PyCompactUnicodeObject)
};

struct PythonLayout {
    int major = 0;
    int minor = 0;
    EntryModel entry = EntryModel::runtime;
    FrameModel frames = FrameModel::frame_object;
    LineTableFormat line_table = LineTableFormat::lnotab;
    GilModel gil_model = GilModel::runtime_tstate_current;
    RuntimeLayout runtime;
    InterpreterLayout interp;
    GilLayout gil;
    ThreadStateLayout tstate;
    FrameObjectLayout frame_object;
    InterpreterFrameLayout interp_frame;
    CodeLayout code;
    StringLayout strings;
    DictLayout dict;
    TypeObjectLayout type;
    int ob_type = 8;      // PyObject.ob_type
    int module_dict = 16; // PyModuleObject.md_dict

    std::string name() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// Dict layouts shared by several versions (python_layouts.cpp), measured like the tables.
DictLayout dict_layout_2_7();
DictLayout dict_layout_3_6_to_3_10();
DictLayout dict_layout_3_11_to_3_12();
DictLayout dict_layout_3_13();

// The table for one minor version, or nullptr when there is none.
const PythonLayout* layout_for(int major, int minor);

// One function per table (layout_2_7.cpp ...), for the tests that check them against DWARF.
const PythonLayout& layout_2_7();
const PythonLayout& layout_3_6();
const PythonLayout& layout_3_7();
const PythonLayout& layout_3_8();
const PythonLayout& layout_3_9();
const PythonLayout& layout_3_10();
const PythonLayout& layout_3_11();
const PythonLayout& layout_3_12();
const PythonLayout& layout_3_13();

} // namespace sampler::python

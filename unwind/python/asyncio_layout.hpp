#pragma once
// Where the fields a reader of asyncio tasks needs live, per CPython minor version (x86-64,
// default non-debug GIL build): the C Task and Future of `_asyncio`, generators and coroutines,
// how a suspended frame tells what it awaits, and the containers tasks are kept in (sets, weak
// references, lists, tuples, ints, bound methods). One table per version (asyncio_layout_*.cpp),
// measured with gdb against the DWARF of the pyenv builds (libpython and `_asyncio.*.so`) and
// checked by tests/python/test_asyncio_layout.cpp; opcode numbers are checked against each
// interpreter's own `dis`. Offsets are bytes from the start of the struct; `absent` marks a field
// the version does not have.

#include "python_layout.hpp"

#include <climits>

namespace sampler::python {

inline constexpr int no_state = INT_MIN; // a frame state the version does not have

struct FutureLayout {        // _asyncio's FutureObj; a TaskObj begins with the same fields
    int loop = 16;           // fut_loop / task_loop
    int callback0 = 24;      // the first done callback, kept apart
    int callbacks = 40;      // a list of (callback, context) tuples, or NULL
    int state = absent;      // fut_state, an int enum: pending, cancelled, finished
    int fut_waiter = absent; // TaskObj: the future the task waits on
    int coro = absent;       // TaskObj
    int name = absent;       // TaskObj: a str, or (3.12+) an int N meaning "Task-N"
    int iter_future = 16;    // futureiterobject.future: what `await future` iterates
};

// Future states (fut_state), the same in every version.
inline constexpr int future_pending = 0;
inline constexpr int future_cancelled = 1;
inline constexpr int future_finished = 2;

struct GeneratorLayout {      // PyGenObject; coroutines and async generators share its head
    int frame = absent;       // gi_frame: PyFrameObject*, NULL once finished (<= 3.10)
    int iframe = absent;      // gi_iframe: the _PyInterpreterFrame inside the object (3.11+)
    int frame_state = absent; // gi_frame_state: int8 (3.11+)
    int qualname = absent;    // gi_qualname: a str, "Class.method" (every version)
};

// How a suspended generator's frame tells that it is inside `await`/`yield from` (CPython's
// _PyGen_yf): then the object it awaits is on top of its value stack.
enum class YieldFromModel {
    next_opcode, // <= 3.10: the next instruction is YIELD_FROM
    next_resume, // 3.11, 3.12: the next instruction is a RESUME whose oparg is 2 or 3
    frame_state, // 3.13+: the frame state is FRAME_SUSPENDED_YIELD_FROM
};

struct GeneratorFrameLayout {
    YieldFromModel yield_from = YieldFromModel::next_opcode;
    // PyFrameObject (<= 3.10)
    int gen = absent;        // f_gen: the generator running this frame, or NULL
    int stacktop = absent;   // f_stacktop: PyObject**, NULL while the frame runs (3.8, 3.9)
    int valuestack = absent; // f_valuestack (3.10)
    int stackdepth = absent; // f_stackdepth: int (3.10)
    int executing = absent;  // f_executing: char, nonzero while running (3.8, 3.9)
    int state = absent;      // f_state: int8 (3.10)
    int code_bytes = absent; // PyCodeObject.co_code: the bytecode, a bytes object (<= 3.10)
    // _PyInterpreterFrame (3.11+)
    int stack_count = absent; // stacktop: int, the slots of localsplus in use
    int localsplus = absent;
    // Frame states (f_state in 3.10, gi_frame_state from 3.11)
    int state_created = no_state;
    int state_suspended = no_state;
    int state_suspended_yield_from = no_state; // 3.13+
    int state_executing = no_state;
    int state_completed = no_state; // this and above: finished, no frame to read
    // Opcodes
    int yield_from_opcode = absent; // YIELD_FROM (<= 3.10)
    int resume_opcode = absent;     // RESUME (3.11, 3.12)
    int resume_variant = absent;    // RESUME_QUICK (3.11) / INSTRUMENTED_RESUME (3.12)
};

struct ContainerLayout {
    int set_mask = 32; // PySetObject
    int set_table = 40;
    int set_used = 24;
    int set_entry_size = 16;  // setentry {key, hash}
    int weakref_object = 16;  // PyWeakReference.wr_object (Py_None once the referent is gone)
    int var_size = 16;        // PyVarObject.ob_size: list, tuple and deque lengths
    int deque_state = 56;     // dequeobject.state: +1 on every append and every pop
    int list_items = 24;      // PyListObject.ob_item: PyObject**
    int tuple_items = 24;     // PyTupleObject.ob_item: inline
    int method_self = 24;     // PyMethodObject.im_self
    int type_base = 256;      // PyTypeObject.tp_base
    int long_size = 16;       // ob_size (signed digit count) or, tagged, lv_tag
    int long_digits = 24;     // 30-bit digits in uint32s
    bool long_tagged = false; // 3.12+: lv_tag = digits << 3 | sign (0 positive, 1 zero, 2 negative)
};

struct AsyncioLayout {
    int major = 3;
    int minor = 0;
    FutureLayout future;
    GeneratorLayout generator;
    GeneratorFrameLayout frame;
    ContainerLayout containers;
    // Where the asyncio module keeps its tasks: `_all_tasks` (a WeakSet) up to 3.11;
    // `_scheduled_tasks` (a WeakSet) plus `_eager_tasks` (a set) from 3.12.
    bool scheduled_and_eager = false;

    std::string name() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// The table for one minor version, or nullptr when tasks cannot be read there.
const AsyncioLayout* asyncio_layout_for(int major, int minor);

const AsyncioLayout& asyncio_layout_3_8();
const AsyncioLayout& asyncio_layout_3_9();
const AsyncioLayout& asyncio_layout_3_10();
const AsyncioLayout& asyncio_layout_3_11();
const AsyncioLayout& asyncio_layout_3_12();
const AsyncioLayout& asyncio_layout_3_13();

} // namespace sampler::python

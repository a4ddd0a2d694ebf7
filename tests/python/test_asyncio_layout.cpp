// The asyncio layout tables (unwind/python/asyncio_layout_*.cpp) against each pyenv build: the
// struct offsets and enum values against the DWARF of its libpython and its _asyncio module (read
// with gdb), and the opcodes against the interpreter's own `dis`, Debian's static python3.11
// included (it has no DWARF: its behaviour in the dump --tasks tests confirms the rest). Skipped
// with a message when gdb or an interpreter is missing.

#include "asyncio_layout.hpp"
#include "child_process.hpp"
#include "dwarf_fields.hpp"
#include "interpreters.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using namespace sampler::python;
using namespace sampler::testing;

namespace {

void add_offset(std::vector<DwarfField>& fields, const std::string& type, const std::string& member,
                int expected) {
    if (expected != absent)
        fields.push_back({offset_of(type, member), expected});
}

void add_state(std::vector<DwarfField>& fields, const std::string& name, int expected) {
    if (expected != no_state)
        fields.push_back({"(int)" + name, expected});
}

// Generators, coroutines and their frames, and the containers tasks are kept in: libpython.
std::vector<DwarfField> interpreter_fields(const AsyncioLayout& l) {
    std::vector<DwarfField> f;
    const GeneratorLayout& g = l.generator;
    for (const std::string prefix : {"gi", "cr"}) {
        const std::string type = prefix == "gi" ? "PyGenObject" : "PyCoroObject";
        add_offset(f, type, prefix + "_frame", g.frame);
        add_offset(f, type, prefix + "_iframe", g.iframe);
        add_offset(f, type, prefix + "_frame_state", g.frame_state);
        add_offset(f, type, prefix + "_qualname", g.qualname);
        if (g.frame_state != absent)
            f.push_back({"sizeof(((" + type + "*)0)->" + prefix + "_frame_state)", 1});
    }
    add_offset(f, "PyAsyncGenObject", "ag_frame", g.frame);
    add_offset(f, "PyAsyncGenObject", "ag_iframe", g.iframe);
    add_offset(f, "PyAsyncGenObject", "ag_qualname", g.qualname);
    const GeneratorFrameLayout& fr = l.frame;
    add_offset(f, "PyFrameObject", "f_gen", fr.gen);
    add_offset(f, "PyFrameObject", "f_stacktop", fr.stacktop);
    add_offset(f, "PyFrameObject", "f_valuestack", fr.valuestack);
    add_offset(f, "PyFrameObject", "f_stackdepth", fr.stackdepth);
    add_offset(f, "PyFrameObject", "f_executing", fr.executing);
    add_offset(f, "PyFrameObject", "f_state", fr.state);
    if (fr.state != absent)
        f.push_back({"sizeof(((PyFrameObject*)0)->f_state)", 1});
    add_offset(f, "PyCodeObject", "co_code", fr.code_bytes);
    add_offset(f, "_PyInterpreterFrame", "stacktop", fr.stack_count);
    add_offset(f, "_PyInterpreterFrame", "localsplus", fr.localsplus);
    add_state(f, "FRAME_CREATED", fr.state_created);
    add_state(f, "FRAME_SUSPENDED", fr.state_suspended);
    add_state(f, "FRAME_SUSPENDED_YIELD_FROM", fr.state_suspended_yield_from);
    add_state(f, "FRAME_EXECUTING", fr.state_executing);
    add_state(f, l.minor == 10 ? "FRAME_RETURNED" : "FRAME_COMPLETED", fr.state_completed);
    const ContainerLayout& c = l.containers;
    add_offset(f, "PySetObject", "used", c.set_used);
    add_offset(f, "PySetObject", "mask", c.set_mask);
    add_offset(f, "PySetObject", "table", c.set_table);
    f.push_back({"sizeof(setentry)", c.set_entry_size});
    f.push_back({offset_of("setentry", "key"), 0});
    f.push_back({offset_of("setentry", "hash"), 8});
    add_offset(f, "PyWeakReference", "wr_object", c.weakref_object);
    add_offset(f, "PyVarObject", "ob_size", c.var_size);
    add_offset(f, "dequeobject", "state", c.deque_state); // the loop's ready queue (_collections is built in)
    add_offset(f, "PyListObject", "ob_item", c.list_items);
    add_offset(f, "PyTupleObject", "ob_item", c.tuple_items);
    add_offset(f, "PyMethodObject", "im_self", c.method_self);
    add_offset(f, "PyTypeObject", "tp_base", c.type_base);
    f.push_back({"sizeof(digit)", 4});
    if (c.long_tagged) {
        add_offset(f, "PyLongObject", "long_value.lv_tag", c.long_size);
        add_offset(f, "PyLongObject", "long_value.ob_digit", c.long_digits);
    } else {
        add_offset(f, "PyLongObject", "ob_base.ob_size", c.long_size);
        add_offset(f, "PyLongObject", "ob_digit", c.long_digits);
    }
    return f;
}

// The C Future and Task: the _asyncio module.
std::vector<DwarfField> module_fields(const AsyncioLayout& l) {
    std::vector<DwarfField> f;
    const FutureLayout& u = l.future;
    // A Task begins with a Future's fields, named task_* instead of fut_*.
    for (const auto& [type, prefix] : {std::pair{"FutureObj", "fut_"}, std::pair{"TaskObj", "task_"}}) {
        add_offset(f, type, prefix + std::string("loop"), u.loop);
        add_offset(f, type, prefix + std::string("callback0"), u.callback0);
        add_offset(f, type, prefix + std::string("callbacks"), u.callbacks);
        add_offset(f, type, prefix + std::string("state"), u.state);
    }
    f.push_back({"sizeof(((TaskObj*)0)->task_state)", 4});
    add_offset(f, "TaskObj", "task_fut_waiter", u.fut_waiter);
    add_offset(f, "TaskObj", "task_coro", u.coro);
    add_offset(f, "TaskObj", "task_name", u.name);
    add_offset(f, "futureiterobject", "future", u.iter_future);
    f.push_back({"(int)STATE_PENDING", future_pending});
    f.push_back({"(int)STATE_CANCELLED", future_cancelled});
    f.push_back({"(int)STATE_FINISHED", future_finished});
    return f;
}

std::optional<std::string> asyncio_module(const Interpreter& interpreter, const AsyncioLayout& layout) {
    namespace fs = std::filesystem;
    const fs::path dynload =
        fs::path(interpreter.prefix) / "lib" / ("python" + layout.name()) / "lib-dynload";
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dynload, error))
        if (entry.path().filename().string().rfind("_asyncio.", 0) == 0)
            return entry.path().string();
    return std::nullopt;
}

void check_against_dwarf(const AsyncioLayout& layout) {
    const std::string version = layout.name();
    if (!have_gdb())
        skip_test("gdb is not installed (Debian package gdb)");
    auto interpreter = find_pyenv_interpreter(version);
    auto library = interpreter ? pyenv_libpython(*interpreter) : std::nullopt;
    auto module = interpreter ? asyncio_module(*interpreter, layout) : std::nullopt;
    if (!library || !module)
        skip_test("no pyenv CPython " + version + " with libpython and _asyncio");
    check_fields_with_gdb(*library, interpreter_fields(layout), "CPython " + version);
    check_fields_with_gdb(*module, module_fields(layout), "_asyncio of CPython " + version);
}

// The opcodes and the int digit size, from the interpreter itself.
void check_with_interpreter(const Interpreter& interpreter, const AsyncioLayout& layout) {
    const GeneratorFrameLayout& f = layout.frame;
    const std::string script = "import dis, sys\n"
                               "ops = getattr(dis, '_all_opmap', dis.opmap)\n"
                               "print(ops.get('YIELD_FROM', -1), ops.get('RESUME', -1), "
                               "ops.get('RESUME_QUICK', ops.get('INSTRUMENTED_RESUME', -1)), "
                               "sys.int_info.bits_per_digit, sys.int_info.sizeof_digit)\n";
    RunResult result = run_command({interpreter.executable, "-c", script}, std::chrono::seconds(30), true);
    INFO(interpreter.label << " said: " << result.out);
    REQUIRE(result.exit_code == 0);
    std::istringstream in(result.out);
    int yield_from = 0, resume = 0, resume_variant = 0, digit_bits = 0, digit_size = 0;
    REQUIRE(in >> yield_from >> resume >> resume_variant >> digit_bits >> digit_size);
    CHECK(digit_bits == 30);
    CHECK(digit_size == 4);
    if (f.yield_from == YieldFromModel::next_opcode)
        CHECK(yield_from == f.yield_from_opcode);
    if (f.yield_from == YieldFromModel::next_resume) {
        CHECK(resume == f.resume_opcode);
        CHECK(resume_variant == f.resume_variant);
    }
}

const AsyncioLayout& layout_of(const std::string& version) {
    const AsyncioLayout* layout = asyncio_layout_for(3, std::stoi(version.substr(2)));
    REQUIRE(layout);
    return *layout;
}

} // namespace

TEST_CASE("asyncio 3.8 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_8());
}
TEST_CASE("asyncio 3.9 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_9());
}
TEST_CASE("asyncio 3.10 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_10());
}
TEST_CASE("asyncio 3.11 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_11());
}
TEST_CASE("asyncio 3.12 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_12());
}
TEST_CASE("asyncio 3.13 offsets match DWARF", "[python][dwarf][asyncio]") {
    check_against_dwarf(asyncio_layout_3_13());
}

TEST_CASE("asyncio opcodes and int digits match each interpreter's own", "[python][asyncio]") {
    std::vector<std::string> missing;
    const auto found =
        test_interpreters({"3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian-3.11"}, missing);
    for (const std::string& label : missing)
        skip_part("no CPython " + label + " on this machine");
    for (const Interpreter& interpreter : found) {
        DYNAMIC_SECTION(interpreter.label) {
            const std::string version = interpreter.label.substr(interpreter.label.find('3'));
            check_with_interpreter(interpreter, layout_of(version));
        }
    }
}

TEST_CASE("asyncio layouts exist for 3.8 to 3.13 only", "[python][asyncio]") {
    CHECK(asyncio_layout_for(3, 7) == nullptr);
    CHECK(asyncio_layout_for(2, 7) == nullptr);
    CHECK(asyncio_layout_for(3, 14) == nullptr);
    for (int minor = 8; minor <= 13; ++minor) {
        REQUIRE(asyncio_layout_for(3, minor) != nullptr);
        CHECK(asyncio_layout_for(3, minor)->minor == minor);
    }
}

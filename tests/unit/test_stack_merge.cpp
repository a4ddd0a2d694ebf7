#include "stack_merge.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

namespace {

Frame native(const std::string& name, const std::string& module) {
    return Frame{.kind = FrameKind::native, .name = name, .module = module};
}
Frame python(const std::string& name) {
    return Frame{.kind = FrameKind::python, .name = name, .file = "app.py"};
}

// The merge takes native frames by address, as the symbolizer keeps them: `frames` must outlive
// the merge.
std::vector<const Frame*> addresses(const std::vector<Frame>& frames) {
    std::vector<const Frame*> out;
    for (const Frame& frame : frames)
        out.push_back(&frame);
    return out;
}

std::vector<std::string> names(const std::vector<Frame>& frames) {
    std::vector<std::string> out;
    for (const auto& frame : frames)
        out.push_back(frame.name);
    return out;
}

} // namespace

TEST_CASE("a Python callback called from C qsort called from Python keeps qsort in place") {
    MergeInput input;
    input.interpreter_module = "libpython3.12.so.1.0";
    const std::vector<Frame> input_native = {
        native("compare_keys", "_ctypes.so"),                       // leaf: C code of an extension
        native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"), // runs callback()
        native("_PyObject_Call", "libpython3.12.so.1.0"),           // plumbing: dropped
        native("ffi_call", "libffi.so.8"),
        native("msort_with_tmp", "libc.so.6"),
        native("qsort", "libc.so.6"),
        native("_ctypes_callproc", "_ctypes.so"),
        native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"), // runs sort_things() and main()
        native("PyEval_EvalCode", "libpython3.12.so.1.0"),
        native("Py_RunMain", "libpython3.12.so.1.0"),
        native("__libc_start_main", "libc.so.6"),
    };
    input.native = addresses(input_native);
    input.python = {python("callback"), python("sort_things"), python("<module>")};
    input.python_is_entry = {true, false, true};
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK_FALSE(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"compare_keys", "callback", "ffi_call",
                                                           "msort_with_tmp", "qsort", "_ctypes_callproc",
                                                           "sort_things", "<module>"});
}

TEST_CASE("interpreter builtins at the leaf are kept: they are the work") {
    MergeInput input;
    input.interpreter_module = "python3.11";
    const std::vector<Frame> input_native = {native("list_sort_impl", "python3.11"),
                                             native("_PyEval_EvalFrameDefault", "python3.11"),
                                             native("main", "python3.11")};
    input.native = addresses(input_native);
    input.python = {python("handler"), python("<module>")};
    input.python_is_entry = {false, true};
    CHECK(names(merge_native_and_python(std::move(input)).frames) ==
          std::vector<std::string>{"list_sort_impl", "handler", "<module>"});
}

TEST_CASE("before 3.11 every Python frame has its own eval-loop frame") {
    MergeInput input;
    input.interpreter_module = "libpython2.7.so.1.0";
    const std::vector<Frame> input_native = {native("PyEval_EvalFrameEx", "libpython2.7.so.1.0"),
                                             native("PyEval_EvalCodeEx", "libpython2.7.so.1.0"),
                                             native("PyEval_EvalFrameEx", "libpython2.7.so.1.0")};
    input.native = addresses(input_native);
    input.python = {python("inner"), python("outer")};
    input.python_is_entry = {true, true};
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK_FALSE(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});
}

TEST_CASE("mismatches are flagged and no frame is lost") {
    MergeInput input;
    input.interpreter_module = "libpython3.12.so.1.0";
    const std::vector<Frame> input_native = {native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    input.native = addresses(input_native);
    input.python = {python("inner"), python("outer")};
    input.python_is_entry = {true, true};
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});

    MergeInput no_eval;
    const std::vector<Frame> no_eval_native = {native("pthread_cond_wait", "libc.so.6")};
    no_eval.native = addresses(no_eval_native);
    MergeResult native_only = merge_native_and_python(std::move(no_eval));
    CHECK(names(native_only.frames) == std::vector<std::string>{"pthread_cond_wait"});
    CHECK_FALSE(native_only.mismatched);
}

TEST_CASE("more eval-loop calls than Python groups is a mismatch too: the Python half alone") {
    MergeInput input;
    input.interpreter_module = "libpython3.12.so.1.0";
    const std::vector<Frame> input_native = {
        native("x_add", "libpython3.12.so.1.0"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"),
        native("ffi_call", "libffi.so.8"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    input.native = addresses(input_native);
    // The outermost frame is not marked as an entry: the group still ends there.
    input.python = {python("inner"), python("outer")};
    input.python_is_entry = {false, false};
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});
}

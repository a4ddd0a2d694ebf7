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

// The merge takes native frames by address, as the symbolizer keeps them: `native` must outlive
// the merge. Python frames are named by function, `entries` marks each one's is-entry bit.
MergeInput merge_input(const std::string& interpreter_module, const std::vector<Frame>& native,
                       const std::vector<std::string>& python_names = {}, std::vector<bool> entries = {}) {
    MergeInput input;
    input.interpreter_module = interpreter_module;
    for (const Frame& frame : native)
        input.native.push_back(&frame);
    for (const std::string& name : python_names)
        input.python.push_back(python(name));
    input.python_is_entry = std::move(entries);
    return input;
}

std::vector<std::string> names(const std::vector<Frame>& frames) {
    std::vector<std::string> out;
    for (const auto& frame : frames)
        out.push_back(frame.name);
    return out;
}

} // namespace

TEST_CASE("a Python callback called from C qsort called from Python keeps qsort in place") {
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
    MergeInput input = merge_input("libpython3.12.so.1.0", input_native,
                                   {"callback", "sort_things", "<module>"}, {true, false, true});
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK_FALSE(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"compare_keys", "callback", "ffi_call",
                                                           "msort_with_tmp", "qsort", "_ctypes_callproc",
                                                           "sort_things", "<module>"});
}

TEST_CASE("interpreter builtins at the leaf are kept: they are the work") {
    const std::vector<Frame> input_native = {native("list_sort_impl", "python3.11"),
                                             native("_PyEval_EvalFrameDefault", "python3.11"),
                                             native("main", "python3.11")};
    MergeInput input = merge_input("python3.11", input_native, {"handler", "<module>"}, {false, true});
    CHECK(names(merge_native_and_python(std::move(input)).frames) ==
          std::vector<std::string>{"list_sort_impl", "handler", "<module>"});
}

TEST_CASE("before 3.11 every Python frame has its own eval-loop frame") {
    const std::vector<Frame> input_native = {native("PyEval_EvalFrameEx", "libpython2.7.so.1.0"),
                                             native("PyEval_EvalCodeEx", "libpython2.7.so.1.0"),
                                             native("PyEval_EvalFrameEx", "libpython2.7.so.1.0")};
    MergeInput input = merge_input("libpython2.7.so.1.0", input_native, {"inner", "outer"}, {true, true});
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK_FALSE(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});
}

TEST_CASE("mismatches are flagged and no frame is lost") {
    const std::vector<Frame> input_native = {native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    MergeInput input = merge_input("libpython3.12.so.1.0", input_native, {"inner", "outer"}, {true, true});
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});

    const std::vector<Frame> no_eval_native = {native("pthread_cond_wait", "libc.so.6")};
    MergeResult native_only = merge_native_and_python(merge_input("", no_eval_native));
    CHECK(names(native_only.frames) == std::vector<std::string>{"pthread_cond_wait"});
    CHECK_FALSE(native_only.mismatched);
}

TEST_CASE("more eval-loop calls than Python groups is a mismatch too: the Python half alone") {
    const std::vector<Frame> input_native = {
        native("x_add", "libpython3.12.so.1.0"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"),
        native("ffi_call", "libffi.so.8"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    // The outermost frame is not marked as an entry: the group still ends there.
    MergeInput input = merge_input("libpython3.12.so.1.0", input_native, {"inner", "outer"}, {false, false});
    MergeResult merged = merge_native_and_python(std::move(input));
    CHECK(merged.mismatched);
    CHECK(names(merged.frames) == std::vector<std::string>{"inner", "outer"});
}

TEST_CASE("a merge into the frames of an earlier stack gives what a merge into nothing gives") {
    const std::vector<Frame> deep_native = {
        native("compare_keys", "_ctypes.so"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0"),
        native("ffi_call", "libffi.so.8"), native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    const std::vector<Frame> shallow_native = {native("_PyEval_EvalFrameDefault", "libpython3.12.so.1.0")};
    const MergeInput deep = merge_input("libpython3.12.so.1.0", deep_native,
                                        {"callback", "sort_things", "<module>"}, {true, false, true});
    const MergeInput shallow = merge_input("libpython3.12.so.1.0", shallow_native, {"main"}, {true});
    const MergeInput mismatched =
        merge_input("libpython3.12.so.1.0", shallow_native, {"a", "b"}, {true, true});
    std::vector<Frame> reused;
    // Deeper, shallower, mismatched and deep again, into the same vector: each as a fresh merge.
    for (const MergeInput* input : {&deep, &shallow, &mismatched, &deep}) {
        MergeInput copy = *input;
        const MergeResult fresh = merge_native_and_python(std::move(copy));
        CHECK(merge_native_and_python(*input, reused) == fresh.mismatched);
        CHECK(reused == fresh.frames);
    }
}

#include "stack_merge.hpp"

#include <string_view>

namespace sampler {

// 3.11+ builds may keep the _PyEval_EvalFrame inline wrapper out of line.
const std::set<std::string>& eval_loop_function_names() {
    static const std::set<std::string> names = {"_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx",
                                                "_PyEval_EvalFrame"};
    return names;
}

bool is_eval_loop_frame(const Frame& frame) {
    // The same names as eval_loop_function_names(), compared without a set lookup: this runs
    // for every native frame of every --native sample.
    const std::string_view name = frame.name;
    return !frame.inlined && (name == "_PyEval_EvalFrameDefault" || name == "PyEval_EvalFrameEx" ||
                              name == "_PyEval_EvalFrame");
}

bool merge_native_and_python(const MergeInput& input, std::vector<Frame>& out) {
    // Assigned into out's Frames where it has them: their strings keep their buffers.
    std::size_t count = 0;
    auto put = [&](const Frame& frame) {
        if (count < out.size())
            out[count] = frame;
        else
            out.push_back(frame);
        ++count;
    };
    // Python frames split at entry frames: group g is what the g-th eval-loop call (innermost
    // first) runs, and ends (outermost) at an entry frame or at the outermost frame.
    const std::vector<Frame>& python = input.python;
    auto ends_group = [&](std::size_t i) {
        return i >= input.python_is_entry.size() || input.python_is_entry[i] || i + 1 == python.size();
    };
    std::size_t groups = 0;
    for (std::size_t i = 0; i < python.size(); ++i)
        groups += ends_group(i);
    std::size_t eval_frames = 0;
    std::size_t last_eval = 0;
    for (std::size_t i = 0; i < input.native.size(); ++i)
        if (is_eval_loop_frame(*input.native[i])) {
            ++eval_frames;
            last_eval = i;
        }
    // Each eval-loop call runs one group, in order; any other count does not pair up. No eval
    // loop at all: unwinding failed early, or a thread that runs no Python.
    if (eval_frames != groups || eval_frames == 0) {
        if (!python.empty())
            for (const Frame& frame : python)
                put(frame);
        else
            for (const Frame* frame : input.native)
                put(*frame);
        out.resize(count);
        return !python.empty();
    }
    std::size_t next_python = 0;
    bool leaf_side = true;
    for (std::size_t i = 0; i <= last_eval; ++i) {
        const Frame& frame = *input.native[i];
        if (is_eval_loop_frame(frame)) {
            for (bool end = false; !end && next_python < python.size(); ++next_python) {
                end = ends_group(next_python);
                put(python[next_python]);
            }
            leaf_side = false;
            continue;
        }
        // Leaf side: everything, interpreter builtins included (time in list.sort is real work).
        // Between Python frames: only code outside the interpreter (extensions, libraries).
        if (leaf_side || frame.module != input.interpreter_module)
            put(frame);
    }
    // Outer than the outermost eval loop is interpreter start-up (main, Py_RunMain, thread
    // bootstrap): left out, so Python roots read `<module>`.
    out.resize(count);
    return false;
}

MergeResult merge_native_and_python(MergeInput&& input) {
    MergeResult result;
    result.mismatched = merge_native_and_python(input, result.frames);
    return result;
}

} // namespace sampler

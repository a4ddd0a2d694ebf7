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

MergeResult merge_native_and_python(MergeInput&& input) {
    MergeResult result;
    // Python frames split at entry frames: group g is what the g-th eval-loop call (innermost
    // first) runs. Each group is its end (one past its outermost frame) in input.python.
    std::vector<std::size_t> group_ends;
    for (std::size_t i = 0; i < input.python.size(); ++i)
        if (i >= input.python_is_entry.size() || input.python_is_entry[i] || i + 1 == input.python.size())
            group_ends.push_back(i + 1);
    std::size_t eval_frames = 0;
    std::size_t last_eval = 0;
    for (std::size_t i = 0; i < input.native.size(); ++i)
        if (is_eval_loop_frame(*input.native[i])) {
            ++eval_frames;
            last_eval = i;
        }
    // Each eval-loop call runs one group, in order; any other count does not pair up. No eval
    // loop at all: unwinding failed early, or a thread that runs no Python.
    if (eval_frames != group_ends.size() || eval_frames == 0) {
        result.mismatched = !input.python.empty();
        if (!input.python.empty())
            result.frames = std::move(input.python);
        else
            for (const Frame* frame : input.native)
                result.frames.push_back(*frame);
        return result;
    }
    result.frames.reserve(input.python.size() + 8);
    std::size_t group = 0;
    bool leaf_side = true;
    for (std::size_t i = 0; i <= last_eval; ++i) {
        const Frame& frame = *input.native[i];
        if (is_eval_loop_frame(frame)) {
            const std::size_t begin = group == 0 ? 0 : group_ends[group - 1];
            for (std::size_t p = begin; p < group_ends[group]; ++p)
                result.frames.push_back(std::move(input.python[p]));
            ++group;
            leaf_side = false;
            continue;
        }
        // Leaf side: everything, interpreter builtins included (time in list.sort is real work).
        // Between Python frames: only code outside the interpreter (extensions, libraries).
        if (leaf_side || frame.module != input.interpreter_module)
            result.frames.push_back(frame);
    }
    // Outer than the outermost eval loop is interpreter start-up (main, Py_RunMain, thread
    // bootstrap): left out, so Python roots read `<module>`.
    return result;
}

} // namespace sampler

#include "stack_merge.hpp"

namespace sampler {
namespace {

// Python frames split at entry frames: groups[0] is what the innermost eval-loop call runs.
std::vector<std::vector<Frame>> eval_groups(const MergeInput& input) {
    std::vector<std::vector<Frame>> groups;
    std::vector<Frame> current;
    for (std::size_t i = 0; i < input.python.size(); ++i) {
        current.push_back(input.python[i]);
        bool entry = i < input.python_is_entry.size() ? input.python_is_entry[i] : true;
        if (entry) {
            groups.push_back(std::move(current));
            current.clear();
        }
    }
    if (!current.empty())
        groups.push_back(std::move(current));
    return groups;
}

} // namespace

const std::set<std::string>& eval_loop_function_names() {
    // 3.11+ builds may keep the _PyEval_EvalFrame inline wrapper out of line.
    static const std::set<std::string> names = {"_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx",
                                                "_PyEval_EvalFrame"};
    return names;
}

bool is_eval_loop_frame(const Frame& frame) {
    return !frame.inlined && eval_loop_function_names().contains(frame.name);
}

MergeResult merge_native_and_python(const MergeInput& input) {
    MergeResult result;
    std::vector<std::size_t> eval_frames;
    for (std::size_t i = 0; i < input.native.size(); ++i)
        if (is_eval_loop_frame(input.native[i]))
            eval_frames.push_back(i);
    if (eval_frames.empty()) {
        // No eval loop in the native stack (unwinding failed early, or a non-Python thread).
        result.frames = input.python.empty() ? input.native : input.python;
        result.mismatched = !input.python.empty();
        return result;
    }
    auto groups = eval_groups(input);
    std::size_t next_group = 0;
    std::size_t first_eval = eval_frames.front();
    std::size_t last_eval = eval_frames.back();
    for (std::size_t i = 0; i <= last_eval; ++i) {
        const Frame& frame = input.native[i];
        if (is_eval_loop_frame(frame)) {
            if (next_group < groups.size()) {
                const auto& group = groups[next_group++];
                result.frames.insert(result.frames.end(), group.begin(), group.end());
            } else {
                result.mismatched = true;
            }
            continue;
        }
        // Leaf side: everything, interpreter builtins included (time in list.sort is real work).
        // Between Python frames: only code outside the interpreter (extensions, libraries).
        if (i < first_eval || frame.module != input.interpreter_module)
            result.frames.push_back(frame);
    }
    // Outer than the outermost eval loop is interpreter start-up (main, Py_RunMain, thread
    // bootstrap): left out, so Python roots read `<module>`. Unpaired groups go outermost.
    if (next_group < groups.size())
        result.mismatched = true;
    for (; next_group < groups.size(); ++next_group)
        result.frames.insert(result.frames.end(), groups[next_group].begin(), groups[next_group].end());
    return result;
}

} // namespace sampler

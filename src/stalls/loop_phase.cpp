#include "loop_phase.hpp"

#include <string_view>

namespace sampler {
namespace {

// File names are package-relative ("asyncio/base_events.py") unless --full-filenames.
bool in_asyncio_file(const Frame& frame, std::string_view file) {
    const std::string_view path = frame.file;
    if (!path.ends_with(file))
        return false;
    const std::string_view before = path.substr(0, path.size() - file.size());
    return before.ends_with("asyncio/");
}

// co_qualname from 3.11 ("BaseEventLoop._run_once"), co_name before ("_run_once").
bool named(const Frame& frame, std::string_view name) {
    const std::string_view full = frame.name;
    return full == name || (full.ends_with(name) && full[full.size() - name.size() - 1] == '.');
}

bool is_selector_wait(const Frame& frame) {
    const std::string_view path = frame.file;
    return path == "selectors.py" || path.ends_with("/selectors.py");
}

} // namespace

LoopPosition loop_position(const std::vector<Frame>& innermost_first) {
    std::vector<const Frame*> python;
    for (const Frame& frame : innermost_first)
        if (frame.kind == FrameKind::python)
            python.push_back(&frame);
    // The innermost _run_once: a loop run from inside a callback would be a nested loop, which
    // asyncio refuses, so there is one.
    std::size_t run_once = python.size();
    for (std::size_t i = 0; i < python.size(); ++i)
        if (named(*python[i], "_run_once") && in_asyncio_file(*python[i], "base_events.py")) {
            run_once = i;
            break;
        }
    LoopPosition position;
    if (run_once == python.size())
        return position;
    if (run_once == 0) {
        position.phase = LoopPhase::loop_code;
        return position;
    }
    const Frame& inner = *python[run_once - 1];
    if (is_selector_wait(inner)) {
        position.phase = LoopPhase::waiting;
        return position;
    }
    if (!(named(inner, "_run") && in_asyncio_file(inner, "events.py"))) {
        position.phase = LoopPhase::loop_code; // _process_events, timers, ...
        return position;
    }
    position.phase = LoopPhase::callback;
    // What Handle._run runs, without the pure-Python Task's own step frames (its __step and,
    // from 3.12, __step_run_and_handle_result) between it and the coroutine.
    std::size_t outer = run_once - 1; // index of _run in `python`
    while (outer > 0 && in_asyncio_file(*python[outer - 1], "tasks.py"))
        --outer;
    // Everything inner of that point, native frames included, innermost first.
    const Frame* first_outside = python[outer];
    for (const Frame& frame : innermost_first) {
        if (&frame == first_outside)
            break;
        position.callback_frames.push_back(frame);
    }
    return position;
}

} // namespace sampler

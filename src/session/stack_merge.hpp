#pragma once
// Python + native stacks (`--native`): each eval-loop frame of the native stack is replaced by
// the Python frames it is running; C/C++ extension and library frames stay where they are; the
// interpreter's own call plumbing between Python frames is left out.

#include "sampler/frame.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace sampler {

struct MergeInput {
    // Innermost first, symbolized: the symbolizer's own frames, by address, so that the frames
    // the merge leaves out (most of them: the interpreter's plumbing) are never copied.
    std::vector<const Frame*> native;
    std::vector<Frame> python;         // innermost first
    std::vector<bool> python_is_entry; // per Python frame: outermost frame of one eval-loop call
    std::string interpreter_module;    // basename of the module holding the interpreter
};

struct MergeResult {
    std::vector<Frame> frames; // innermost first
    // Eval-loop frames and Python frame groups did not pair up: `frames` is the Python half
    // alone (never a mis-merged stack), or the native one when there is no Python frame.
    bool mismatched = false;
};

// The functions that are the interpreter's eval loop, in the versions we read.
const std::set<std::string>& eval_loop_function_names();

// True for the native frame of the interpreter's eval loop (one per C-level eval call).
bool is_eval_loop_frame(const Frame& frame);

MergeResult merge_native_and_python(MergeInput&& input);
// The same into `out`, whose Frames are assigned (their strings keep their buffers: a caller
// reusing `out` and `input` from sample to sample allocates nothing per frame). True when the
// halves did not pair up (MergeResult::mismatched).
bool merge_native_and_python(const MergeInput& input, std::vector<Frame>& out);

} // namespace sampler

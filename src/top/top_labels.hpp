#pragma once
// How `sampler top` names the rows a frame counts in: by function (as flame graphs aggregate)
// and by line.

#include "sampler/frame.hpp"
#include "top_counts.hpp"

namespace sampler {

// function: aggregate_label(aggregation_key(frame)), except that Python frames, which carry
// their line in the key, are grouped by name and file. line: the frame's own file:line.
TopFrameLabels top_frame_labels(const Frame& frame);

} // namespace sampler

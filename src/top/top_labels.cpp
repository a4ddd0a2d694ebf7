#include "top_labels.hpp"

#include "profile_builder.hpp"

namespace sampler {

TopFrameLabels top_frame_labels(const Frame& frame) {
    Frame function = aggregation_key(frame);
    if (function.kind == FrameKind::python)
        function.line = 0;
    Frame line = function;
    line.file = frame.file;
    line.line = frame.line;
    return {aggregate_label(function), aggregate_label(line)};
}

} // namespace sampler

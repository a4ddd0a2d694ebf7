#pragma once
// Frames of synthetic interpreter images, for the walker tests: a line table of each format,
// a frame of the layout's own kind, where its fields lie, every layout, and a walk's frames in full.

#include "synthetic_python.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sampler::testing {

using python::FrameModel;
using python::LineTableFormat;
using python::PythonLayout;

// A table for each format where byte offsets [0,4) are line first, [4,8) first+1, [8,...) first+2.
inline std::vector<std::uint8_t> three_line_table(const PythonLayout& layout) {
    switch (layout.line_table) {
    case LineTableFormat::lnotab_unsigned:
    case LineTableFormat::lnotab:
        return {4, 1, 4, 1};
    case LineTableFormat::linetable_310:
        return {4, 0, 4, 1, 50, 1};
    case LineTableFormat::location_table: {
        std::vector<std::uint8_t> table;
        for (auto entry :
             {location_entry_one_line(0, 2), location_entry_one_line(1, 2), location_entry_one_line(1, 8)})
            table.insert(table.end(), entry.begin(), entry.end());
        return table;
    }
    }
    return {};
}

// A frame at byte offset `offset` of its code, in the layout's own frame kind.
inline std::uint64_t push_frame(SyntheticPython& py, std::uint64_t code, std::uint64_t back, int offset,
                                bool is_entry = false, int owner = 0) {
    const PythonLayout& layout = py.layout();
    if (layout.frames == FrameModel::frame_object)
        return py.frame_object(code, back, layout.frame_object.lasti_in_code_units ? offset / 2 : offset);
    return py.interpreter_frame(code, back, offset, owner, is_entry);
}

// Where a frame of the layout's own kind holds its link to its caller, and its code object.
inline std::uint64_t caller_link_at(const PythonLayout& layout, std::uint64_t frame) {
    const int link =
        layout.frames == FrameModel::frame_object ? layout.frame_object.back : layout.interp_frame.previous;
    return frame + static_cast<std::uint64_t>(link);
}
inline std::uint64_t code_at(const PythonLayout& layout, std::uint64_t frame) {
    const int code =
        layout.frames == FrameModel::frame_object ? layout.frame_object.code : layout.interp_frame.code;
    return frame + static_cast<std::uint64_t>(code);
}

inline const std::vector<const PythonLayout*> all_layouts{
    &python::layout_2_7(),  &python::layout_3_6(),  &python::layout_3_7(),
    &python::layout_3_8(),  &python::layout_3_9(),  &python::layout_3_10(),
    &python::layout_3_11(), &python::layout_3_12(), &python::layout_3_13()};

// Every field of each frame a walk gives, for comparing two walks.
struct FullFrameView {
    std::string name, file;
    std::uint32_t line, first_line;
    bool is_entry, valid;
    bool operator==(const FullFrameView&) const = default;
};

inline std::vector<FullFrameView> full_view(const PythonThread& thread) {
    std::vector<FullFrameView> frames;
    for (const PythonFrame& f : thread.frames)
        frames.push_back({f.name, f.file, f.line, f.first_line, f.is_entry, f.valid});
    return frames;
}

} // namespace sampler::testing

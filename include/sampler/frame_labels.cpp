#include "sampler/frame.hpp"

#include <cstdio>

namespace sampler {
namespace {

std::string hex(std::uint64_t value) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
    return buffer;
}

std::string file_and_line(const Frame& frame) {
    std::string text = frame.file;
    if (frame.line != 0)
        text += ":" + std::to_string(frame.line);
    return text;
}

} // namespace

const char* frame_kind_name(FrameKind kind) {
    switch (kind) {
    case FrameKind::native:
        return "native";
    case FrameKind::python:
        return "python";
    case FrameKind::kernel:
        return "kernel";
    case FrameKind::unknown:
        return "unknown";
    case FrameKind::thread:
        return "thread";
    case FrameKind::process:
        return "process";
    case FrameKind::task:
        return "task";
    }
    return "unknown";
}

std::string aggregate_label(const Frame& frame) {
    if (!frame.name.empty()) {
        if (frame.file.empty() || is_root_label(frame.kind))
            return frame.name;
        return frame.name + " (" + file_and_line(frame) + ")";
    }
    if (!frame.module.empty())
        return frame.module + "+" + hex(frame.module_offset);
    return hex(frame.address);
}

std::string dump_label(const Frame& frame) {
    std::string text;
    if (!frame.name.empty() && !frame.file.empty())
        text = frame.name + " (" + file_and_line(frame) + ")";
    else if (!frame.name.empty() && !frame.module.empty())
        text = frame.name + "+" + hex(frame.symbol_offset) + " (" + frame.module + ")";
    else if (!frame.name.empty())
        text = frame.name;
    else if (!frame.module.empty())
        text = hex(frame.address) + " (" + frame.module + "+" + hex(frame.module_offset) + ")";
    else
        text = hex(frame.address);
    if (frame.inlined)
        text += " [inline]";
    return text;
}

} // namespace sampler

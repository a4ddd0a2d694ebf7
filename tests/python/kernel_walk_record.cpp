#include "kernel_walk_record.hpp"

#include <cstring>

namespace sampler::testing {
std::optional<std::vector<std::uint8_t>> kernel_walk_record(const pw_layout& layout,
                                                            const RemoteMemory& memory,
                                                            std::uint64_t thread_state,
                                                            std::uint64_t thread_id, int tid) {
    std::uint64_t found_id = 0;
    if (!memory.read_value(thread_state + layout.thread_id, found_id) || found_id != thread_id)
        return std::nullopt;
    pw_header header{};
    header.pid = 1;
    header.tid = static_cast<std::uint32_t>(tid);
    header.time_ns = 1;
    header.thread_state = thread_state;
    if (!memory.read_value(thread_state + layout.thread_frame, header.frame_word))
        return std::nullopt;
    header.innermost = header.frame_word;
    if (layout.cframe_current >= 0 && header.frame_word != 0 &&
        !memory.read_value(header.frame_word + static_cast<std::uint64_t>(layout.cframe_current),
                           header.innermost))
        return std::nullopt;
    header.stride = pw_stride(&layout);
    header.gil_read = layout.gil_holder != 0 && memory.read_value(layout.gil_holder, header.gil_holder) &&
                      (layout.gil_locked == 0 || memory.read_value(layout.gil_locked, header.gil_locked));

    std::vector<std::uint8_t> record(sizeof header);
    std::uint64_t frame = header.innermost;
    for (std::uint32_t index = 0; index < layout.max_frames && frame != 0; ++index) {
        std::vector<std::uint8_t> entry(header.stride);
        std::uint8_t* frame_bytes = entry.data() + 16;
        std::uint64_t code = 0, next = 0;
        if (!memory.read(frame + layout.frame_begin, frame_bytes, layout.frame_size))
            return std::nullopt;
        std::memcpy(&code, frame_bytes + (layout.frame_code - layout.frame_begin), 8);
        std::memcpy(&next, frame_bytes + (layout.frame_previous - layout.frame_begin), 8);
        code &= layout.code_mask;
        if (code == 0 || !memory.read(code + layout.identity_begin,
                                      frame_bytes + pw_round8(layout.frame_size), layout.identity_size))
            return std::nullopt;
        std::memcpy(entry.data(), &frame, 8);
        std::memcpy(entry.data() + 8, &code, 8);
        record.insert(record.end(), entry.begin(), entry.end());
        ++header.frames;
        frame = next;
    }
    if (frame != 0)
        return std::nullopt;
    std::memcpy(record.data(), &header, sizeof header);
    return record;
}

} // namespace sampler::testing

// PythonReader's side of walking Python frames in the kernel: the layout the BPF program is
// given, and the walk over the bytes it copied (see unwind/capture/bpf/python_walk.bpf.c).
#include "kernel_copy_memory.hpp"
#include "python_reader.hpp"
#include "python_reader_impl.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace sampler {
namespace {

std::uint64_t u64_at(const std::uint8_t* bytes) {
    std::uint64_t value = 0;
    std::memcpy(&value, bytes, sizeof value);
    return value;
}

} // namespace

std::optional<pw_layout> PythonReader::kernel_walk_layout(std::size_t max_frames,
                                                          const RemoteMemory* live) const {
    const python::PythonLayout& layout = impl_->target.layout;
    const python::ThreadStateLayout& t = layout.tstate;
    const python::FrameWalker& walker = impl_->walker;
    const python::FieldRange frame = walker.frame_range();
    const python::FieldRange identity = impl_->codes.identity_range();
    const int previous = layout.frames == python::FrameModel::frame_object ? layout.frame_object.back
                                                                           : layout.interp_frame.previous;
    const int code = walker.code_offset();
    auto inside = [&](int offset) { return offset >= frame.begin && offset + 8 <= frame.end; };
    if (t.frame == python::absent || t.thread_id == python::absent || frame.empty() || identity.empty() ||
        frame.end - frame.begin > PW_MAX_FRAME_BYTES ||
        identity.end - identity.begin > PW_MAX_IDENTITY_BYTES || !inside(previous) || !inside(code))
        return std::nullopt;
    pw_layout out{};
    out.thread_frame = static_cast<std::uint32_t>(t.frame);
    out.cframe_current = t.cframe_current_frame == python::absent ? -1 : t.cframe_current_frame;
    out.thread_id = static_cast<std::uint32_t>(t.thread_id);
    out.frame_begin = static_cast<std::uint32_t>(frame.begin);
    out.frame_size = static_cast<std::uint32_t>(frame.end - frame.begin);
    out.frame_previous = static_cast<std::uint32_t>(previous);
    out.frame_code = static_cast<std::uint32_t>(code);
    out.identity_begin = static_cast<std::uint32_t>(identity.begin);
    out.identity_size = static_cast<std::uint32_t>(identity.end - identity.begin);
    out.code_mask = walker.code_mask();
    // The program stops where an entry could pass the end of its buffer (see copy_frame).
    constexpr std::size_t room = PW_BUFFER_BYTES - sizeof(pw_header) - PW_MAX_ENTRY_BYTES;
    const std::size_t fit = room / pw_stride(&out) + 1;
    out.max_frames = static_cast<std::uint32_t>(std::min({max_frames, fit, std::size_t{PW_MAX_FRAMES}}));
    if (const std::optional<python::GilWords>& gil =
            live ? main_gil_words(*impl_, *live) : impl_->gil_words) {
        out.gil_holder = gil->holder;
        out.gil_locked = gil->locked;
    }
    return out;
}

std::optional<pw_thread> PythonReader::kernel_walk_thread(int tid) const {
    const auto found = impl_->state_by_tid.find(tid);
    if (found == impl_->state_by_tid.end() || found->second.address == 0)
        return std::nullopt;
    return pw_thread{found->second.address, found->second.thread_id};
}

std::vector<std::pair<int, pw_thread>> PythonReader::kernel_walk_threads(const RemoteMemory& live) {
    std::vector<int> found;
    scan_thread_states(*impl_, live, &found);
    std::vector<std::pair<int, pw_thread>> threads;
    for (int tid : found)
        if (const std::optional<pw_thread> thread = kernel_walk_thread(tid))
            threads.emplace_back(tid, *thread);
    return threads;
}

std::optional<PythonThread> PythonReader::read_kernel_walk(const std::uint8_t* record, std::size_t size,
                                                           const RemoteMemory& live, std::size_t max_frames,
                                                           std::uint64_t* errors,
                                                           std::optional<bool>* holds_gil) {
    if (holds_gil)
        holds_gil->reset();
    const std::optional<pw_layout> layout = kernel_walk_layout(PW_MAX_FRAMES);
    pw_header header{};
    if (!layout || size < sizeof header)
        return std::nullopt;
    std::memcpy(&header, record, sizeof header);
    const std::uint32_t stride = pw_stride(&*layout);
    if (header.stride != stride || header.frames > PW_MAX_FRAMES ||
        size < sizeof header + std::size_t{header.frames} * stride)
        return std::nullopt;

    // The record's words where they were in the target: the thread state's frame word, the
    // cframe's current frame, and each frame's and its code object's copied spans.
    python::KernelCopyMemory& copy = impl_->kernel_copy;
    copy.reset(live);
    copy.add(header.thread_state + layout->thread_frame, record + offsetof(pw_header, frame_word), 8);
    if (layout->cframe_current >= 0 && header.frame_word != 0)
        copy.add(header.frame_word + static_cast<std::uint64_t>(layout->cframe_current),
                 record + offsetof(pw_header, innermost), 8);
    for (std::uint32_t i = 0; i < header.frames; ++i) {
        const std::uint8_t* entry = record + sizeof header + std::size_t{i} * stride;
        const std::uint8_t* frame_bytes = entry + 16;
        copy.add(u64_at(entry) + layout->frame_begin, frame_bytes, layout->frame_size);
        copy.add(u64_at(entry + 8) + layout->identity_begin, frame_bytes + pw_round8(layout->frame_size),
                 layout->identity_size);
    }

    std::uint64_t local = 0;
    std::uint64_t& error_count = errors ? *errors : local;
    PythonThread thread = impl_->take_spare_thread();
    thread.thread_state = header.thread_state;
    thread.tid = static_cast<int>(header.tid);
    impl_->walker.walk(copy, header.innermost, thread, error_count, std::min(max_frames, max_depth));
    if (header.gil_read && impl_->gil_words) {
        const std::uint64_t holder =
            python::gil_holder_from(*impl_->gil_words, header.gil_holder, header.gil_locked);
        thread.holds_gil = holder != 0 && holder == header.thread_state;
        if (holds_gil)
            *holds_gil = thread.holds_gil;
    }
    return thread;
}

} // namespace sampler

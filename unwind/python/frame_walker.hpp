#pragma once
// Walks one thread's chain of Python frames, innermost first, turning each into a PythonFrame:
// heap PyFrameObjects (<= 3.10) or _PyInterpreterFrames (3.11+), skipping the frames CPython's
// own tracebacks hide (C-stack shims, frames still in their prologue).

#include "code_cache.hpp"
#include "python_reader.hpp"

#include <cstdint>
#include <vector>

namespace sampler::python {

class FrameWalker {
  public:
    FrameWalker(const ObjectReader& objects, CodeCache& codes) : objects_(objects), codes_(codes) {}

    // Appends the frames starting at `innermost` (a frame address, 0 = none) to `thread.frames`,
    // visiting at most `max_frames` frames (hidden ones included; more sets `thread.truncated`).
    // Problems are added to `errors`. Returns the number of frames visited. With `unchecked`,
    // code objects decoded before are trusted without a read, and their addresses appended there
    // for the caller to confirm (CodeCache::lookup_unchecked).
    std::size_t walk(const RemoteMemory& memory, std::uint64_t innermost, PythonThread& thread,
                     std::uint64_t& errors, std::size_t max_frames = PythonReader::max_depth,
                     std::vector<std::uint64_t>* unchecked = nullptr);

    // The code object address the frame at `frame` runs (tag bits cleared); 0 when unreadable.
    std::uint64_t code_of(const RemoteMemory& memory, std::uint64_t frame) const;
    // Where a frame's code pointer lies, and the bits of it that are the address (tagged on 3.14).
    int code_offset() const;
    std::uint64_t code_mask() const;
    // The bytes of a frame the walk reads (one read per frame), as offsets into the frame.
    FieldRange frame_range() const;

  private:
    std::size_t walk_frame_objects(const RemoteMemory& memory, std::uint64_t innermost, PythonThread& thread,
                                   std::uint64_t& errors, std::size_t max_frames);
    std::size_t walk_interpreter_frames(const RemoteMemory& memory, std::uint64_t innermost,
                                        PythonThread& thread, std::uint64_t& errors, std::size_t max_frames);
    const CodeInfo* code_at(const RemoteMemory& memory, std::uint64_t address);
    // Whether the generator whose frame has no caller runs (C drives it from a thread's start)
    // rather than being suspended: from the frame object's own bytes (<= 3.10), or from the
    // state of the generator that holds the frame (3.11). False where the version cannot tell.
    bool frame_object_runs(const StructBytes& bytes) const;
    bool generator_runs(const RemoteMemory& memory, std::uint64_t frame) const;
    // Appends the frame running `code` at `byte_offset` (unreadable when `code` is null).
    void add_frame(PythonThread& thread, const CodeInfo* code, std::int64_t byte_offset) const;

    const ObjectReader& objects_;
    CodeCache& codes_;
    std::vector<std::uint64_t>* unchecked_ = nullptr; // set for the duration of one walk
};

} // namespace sampler::python

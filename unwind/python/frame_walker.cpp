#include "frame_walker.hpp"

#include "line_table.hpp"
#include "struct_bytes.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <unordered_set>

namespace sampler::python {
namespace {

constexpr const char* unreadable_name = "<unreadable>";

bool plausible_frame_address(std::uint64_t address) {
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

// A new last frame of `thread`, all fields to be set: one of its spare frames when it has one
// (moved, its strings keep their buffers: assigning a name then allocates nothing).
PythonFrame& append_frame(PythonThread& thread) {
    if (thread.spare_frames.empty())
        return thread.frames.emplace_back();
    thread.frames.push_back(std::move(thread.spare_frames.back()));
    thread.spare_frames.pop_back();
    return thread.frames.back();
}

void add_unreadable_frame(PythonThread& thread) {
    PythonFrame& frame = append_frame(thread);
    frame.name = unreadable_name;
    frame.file.clear();
    frame.line = 0;
    frame.first_line = 0;
    frame.is_entry = false;
    frame.valid = false;
}

// Remembers the frames already visited so a corrupt chain that loops ends the walk.
class VisitedFrames {
  public:
    explicit VisitedFrames(std::size_t limit) : limit_(limit) {}
    // False when `address` was seen before or the walk is at its depth limit.
    bool visit(std::uint64_t address, PythonThread& thread, std::uint64_t& errors) {
        if (count_ >= limit_) {
            thread.truncated = true;
            thread.depth_limit = true;
            return false;
        }
        if (!insert(address)) {
            thread.truncated = true;
            ++errors;
            return false;
        }
        ++count_;
        return true;
    }

    std::size_t count() const { return count_; }

  private:
    // Most stacks are shallow: a scan of an array on the stack costs less than a node
    // allocated per frame; deeper ones go on in a hash set.
    bool insert(std::uint64_t address) {
        if (count_ < shallow) {
            for (std::size_t i = 0; i < count_; ++i)
                if (first_[i] == address)
                    return false;
            first_[count_] = address;
            return true;
        }
        if (deeper_.empty())
            deeper_.insert(first_.begin(), first_.end());
        return deeper_.insert(address).second;
    }

    static constexpr std::size_t shallow = 32;
    std::size_t limit_;
    std::size_t count_ = 0;
    std::array<std::uint64_t, shallow> first_{};
    std::unordered_set<std::uint64_t> deeper_;
};

// An unreadable or implausible frame ends the walk: its link to the next one is not trustworthy.
void end_with_bad_frame(PythonThread& thread, std::uint64_t& errors) {
    add_unreadable_frame(thread);
    thread.truncated = true;
    ++errors;
}

} // namespace

std::size_t FrameWalker::walk(const RemoteMemory& memory, std::uint64_t innermost, PythonThread& thread,
                              std::uint64_t& errors, std::size_t max_frames,
                              std::vector<std::uint64_t>* unchecked) {
    max_frames = std::min(max_frames, PythonReader::max_depth);
    unchecked_ = unchecked;
    const std::size_t visited = objects_.layout().frames == FrameModel::frame_object
                                    ? walk_frame_objects(memory, innermost, thread, errors, max_frames)
                                    : walk_interpreter_frames(memory, innermost, thread, errors, max_frames);
    unchecked_ = nullptr;
    return visited;
}

const CodeInfo* FrameWalker::code_at(const RemoteMemory& memory, std::uint64_t address) {
    return unchecked_ ? codes_.lookup_unchecked(memory, address, *unchecked_)
                      : codes_.lookup(memory, address);
}

int FrameWalker::code_offset() const {
    const PythonLayout& layout = objects_.layout();
    return layout.frames == FrameModel::frame_object ? layout.frame_object.code : layout.interp_frame.code;
}

std::uint64_t FrameWalker::code_mask() const {
    const PythonLayout& layout = objects_.layout();
    const bool tagged = layout.frames != FrameModel::frame_object && layout.interp_frame.code_is_tagged;
    return tagged ? ~std::uint64_t{7} : ~std::uint64_t{0};
}

FieldRange FrameWalker::frame_range() const {
    const PythonLayout& layout = objects_.layout();
    FieldRange range;
    if (layout.frames == FrameModel::frame_object) {
        const FrameObjectLayout& f = layout.frame_object;
        range.add(layout.ob_type, 8)
            .add(f.back, 8)
            .add(f.code, 8)
            .add(f.lasti, 4)
            .add(f.stacktop, 8)
            .add(f.state, 1);
    } else {
        const InterpreterFrameLayout& f = layout.interp_frame;
        range.add(f.code, 8).add(f.previous, 8).add(f.instr, 8).add(f.owner, 1).add(f.is_entry, 1);
    }
    return range;
}

bool FrameWalker::frame_object_runs(const StructBytes& bytes) const {
    const FrameObjectLayout& f = objects_.layout().frame_object;
    if (f.stacktop != absent)
        return bytes.u64(f.stacktop) == 0;
    if (f.state != absent)
        return bytes.i8(f.state) == f.state_executing;
    return false;
}

bool FrameWalker::generator_runs(const RemoteMemory& memory, std::uint64_t frame) const {
    const InterpreterFrameLayout& f = objects_.layout().interp_frame;
    if (f.generator_iframe == absent || f.generator_frame_state == absent ||
        frame < static_cast<std::uint64_t>(f.generator_iframe))
        return false;
    const std::uint64_t generator = frame - static_cast<std::uint64_t>(f.generator_iframe);
    std::int8_t state = 0;
    return memory.read_value(generator + static_cast<std::uint64_t>(f.generator_frame_state), state) &&
           state == f.generator_executing;
}

std::uint64_t FrameWalker::code_of(const RemoteMemory& memory, std::uint64_t frame) const {
    const int offset = code_offset();
    std::uint64_t code = 0;
    if (!plausible_frame_address(frame) || offset == absent ||
        !memory.read_value(frame + static_cast<std::uint64_t>(offset), code))
        return 0;
    return code & code_mask();
}

void FrameWalker::add_frame(PythonThread& thread, const CodeInfo* code, std::int64_t byte_offset) const {
    if (!code) {
        add_unreadable_frame(thread);
        return;
    }
    PythonFrame& frame = append_frame(thread);
    frame.name = code->name;
    frame.file = code->file;
    frame.first_line = code->first_line > 0 ? static_cast<std::uint32_t>(code->first_line) : 0;
    frame.line = 0;
    frame.is_entry = false;
    frame.valid = true;
    if (byte_offset <= INT_MAX) {
        const int offset = static_cast<int>(std::max<std::int64_t>(byte_offset, -1));
        if (auto known = code->line_memo.find(offset); known != code->line_memo.end()) {
            frame.line = known->second;
        } else {
            frame.line =
                line_for_offset(objects_.layout().line_table, code->line_table, code->first_line, offset);
            if (code->line_memo.size() < CodeInfo::max_memo_lines)
                code->line_memo.emplace(offset, frame.line);
        }
    }
}

std::size_t FrameWalker::walk_frame_objects(const RemoteMemory& memory, std::uint64_t innermost,
                                            PythonThread& thread, std::uint64_t& errors,
                                            std::size_t max_frames) {
    const PythonLayout& layout = objects_.layout();
    const FrameObjectLayout& f = layout.frame_object;
    const FieldRange range = frame_range();
    VisitedFrames visited(max_frames);
    for (std::uint64_t address = innermost; address != 0;) {
        if (!visited.visit(address, thread, errors))
            return visited.count();
        StructBytes bytes;
        if (!plausible_frame_address(address) || !bytes.read(memory, address, range) ||
            (objects_.types().frame != 0 && bytes.u64(layout.ob_type) != objects_.types().frame)) {
            end_with_bad_frame(thread, errors);
            return visited.count();
        }
        std::int64_t lasti = bytes.i32(f.lasti);
        std::int64_t byte_offset = lasti < 0 ? -1 : f.lasti_in_code_units ? 2 * lasti : lasti;
        const CodeInfo* code = code_at(memory, bytes.u64(f.code));
        if (!code)
            ++errors;
        add_frame(thread, code, byte_offset);
        thread.frames.back().is_entry = true; // each frame object is run by its own eval-loop call
        address = bytes.u64(f.back);
        // A running generator's frame links to its caller; a suspended one's does not. One with
        // no caller may still run, where C drives it from a thread's start (its state says).
        thread.ends_at_suspended_generator =
            address == 0 && code && code->generator && !frame_object_runs(bytes);
    }
    return visited.count();
}

std::size_t FrameWalker::walk_interpreter_frames(const RemoteMemory& memory, std::uint64_t innermost,
                                                 PythonThread& thread, std::uint64_t& errors,
                                                 std::size_t max_frames) {
    const PythonLayout& layout = objects_.layout();
    const InterpreterFrameLayout& f = layout.interp_frame;
    const FieldRange range = frame_range();
    const std::uint64_t code_mask = f.code_is_tagged ? ~std::uint64_t{7} : ~std::uint64_t{0};
    // Frames between two eval-loop entries belong to one C-level call; the outermost one we
    // report is marked as its entry, even when the real entry frame was hidden (incomplete).
    constexpr std::size_t none = SIZE_MAX;
    std::size_t outermost_in_call = none;
    auto end_call = [&] {
        if (outermost_in_call != none)
            thread.frames[outermost_in_call].is_entry = true;
        outermost_in_call = none;
    };
    VisitedFrames visited(max_frames);
    for (std::uint64_t address = innermost; address != 0;) {
        if (!visited.visit(address, thread, errors))
            return visited.count();
        StructBytes bytes;
        if (!plausible_frame_address(address) || !bytes.read(memory, address, range)) {
            end_with_bad_frame(thread, errors);
            return visited.count();
        }
        std::uint64_t previous = bytes.u64(f.previous);
        int owner = bytes.u8(f.owner);
        bool entry = f.is_entry != absent && bytes.u8(f.is_entry) != 0;
        // A running generator is called (3.12+: through the shim below it), so a chain that
        // ends at one was read while it was suspended (see PythonThread), unless its state says
        // it runs: 3.11 has no shim under a generator that C drives from a thread's start.
        thread.ends_at_suspended_generator =
            previous == 0 && owner == f.owner_generator && !generator_runs(memory, address);
        if (f.owner_cstack != absent && owner >= f.owner_cstack) {
            end_call(); // a shim pushed by the eval loop on entry: the frames before it are one call
            address = previous;
            continue;
        }
        std::uint64_t code_address = bytes.u64(f.code) & code_mask;
        const CodeInfo* code = code_at(memory, code_address);
        if (!code) {
            ++errors;
            outermost_in_call = thread.frames.size();
            add_unreadable_frame(thread);
        } else {
            std::uint64_t code_start = code_address + static_cast<std::uint64_t>(layout.code.code_adaptive);
            auto byte_offset = static_cast<std::int64_t>(bytes.u64(f.instr) - code_start);
            bool incomplete = layout.code.firsttraceable != absent && owner != f.owner_generator &&
                              byte_offset < 2 * std::int64_t{code->first_traceable};
            if (!incomplete) {
                outermost_in_call = thread.frames.size();
                add_frame(thread, code, byte_offset);
            }
        }
        if (entry)
            end_call();
        address = previous;
    }
    end_call(); // the chain's natural end: its outermost frames were started by some eval call
    return visited.count();
}

} // namespace sampler::python

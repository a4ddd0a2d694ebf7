#include "coroutine_chain.hpp"

#include "struct_bytes.hpp"

#include <algorithm>
#include <unordered_set>

namespace sampler::python {
namespace {

constexpr std::int64_t max_stack_slots = 1 << 16; // value stack depths beyond this are garbage

std::uint64_t at(std::uint64_t base, int offset) {
    return base + static_cast<std::uint64_t>(offset);
}

std::uint64_t read_pointer(const RemoteMemory& memory, std::uint64_t address) {
    std::uint64_t value = 0;
    return plausible_object(address) && memory.read_value(address, value) ? value : 0;
}

bool ends_with(std::string_view text, std::string_view end) {
    return text.size() >= end.size() && text.substr(text.size() - end.size()) == end;
}

// The pure-Python Future's __await__ is how a pure-Python Task is awaited: plumbing, like the C
// Future's iterator (which has no frame), not a coroutine of the program's.
bool future_await_plumbing(const PythonFrame& frame) {
    return ends_with(frame.name, "__await__") &&
           (ends_with(frame.file, "asyncio/futures.py") || ends_with(frame.file, "asyncio\\futures.py"));
}

} // namespace

GeneratorKind CoroutineChains::kind(const RemoteMemory& memory, std::uint64_t object) {
    const std::string& name = types_.name(memory, containers_.type_of(memory, object));
    if (name == "coroutine")
        return GeneratorKind::coroutine;
    if (name == "generator")
        return GeneratorKind::generator;
    if (name == "async_generator")
        return GeneratorKind::async_generator;
    return GeneratorKind::none;
}

std::optional<std::string> CoroutineChains::name(const RemoteMemory& memory, std::uint64_t object) {
    if (!plausible_object(object))
        return std::nullopt;
    if (kind(memory, object) == GeneratorKind::none) {
        const std::string& type = types_.name(memory, containers_.type_of(memory, object));
        return type.empty() ? std::nullopt : std::optional<std::string>(type);
    }
    return objects_.read_string(memory, read_pointer(memory, at(object, layout_.generator.qualname)));
}

CoroutineChains::Status CoroutineChains::frame_state_status(int state) const {
    const GeneratorFrameLayout& f = layout_.frame;
    if (state == f.state_created)
        return Status::created;
    if (state == f.state_suspended || state == f.state_suspended_yield_from)
        return Status::suspended;
    if (layout_.generator.iframe != absent && state >= f.state_completed)
        return Status::finished;
    return Status::executing; // 3.10's unwinding states too: the frame still runs
}

CoroutineChains::Status CoroutineChains::frame_object_status(const RemoteMemory& memory, std::uint64_t frame,
                                                             int& raw_state) {
    const GeneratorFrameLayout& f = layout_.frame;
    const FrameObjectLayout& object = objects_.layout().frame_object;
    StructBytes bytes;
    if (!bytes.read(memory, frame, FieldRange().add(f.executing, 1).add(f.state, 1).add(object.lasti, 4)))
        return Status::unreadable;
    if (f.state != absent) { // 3.10: f_state
        raw_state = static_cast<std::int8_t>(bytes.u8(f.state));
        return frame_state_status(raw_state);
    }
    // 3.8, 3.9: a flag while running; a frame not yet started has executed no instruction.
    if (bytes.u8(f.executing) != 0)
        return Status::executing;
    return bytes.i32(object.lasti) < 0 ? Status::created : Status::suspended;
}

CoroutineChains::GeneratorState CoroutineChains::state(const RemoteMemory& memory, std::uint64_t generator) {
    const GeneratorLayout& g = layout_.generator;
    GeneratorState state;
    if (!plausible_object(generator))
        return state;
    if (g.frame != absent) { // <= 3.10: a frame object, dropped when the generator finishes
        if (!memory.read_value(at(generator, g.frame), state.frame))
            return state;
        if (state.frame == 0)
            state.status = Status::finished;
        else if (plausible_object(state.frame))
            state.status = frame_object_status(memory, state.frame, state.raw_state);
        return state;
    }
    std::int8_t raw = 0;
    if (!memory.read_value(at(generator, g.frame_state), raw))
        return state;
    state.raw_state = raw;
    state.frame = at(generator, g.iframe);
    state.status = frame_state_status(raw);
    return state;
}

bool CoroutineChains::executing(const RemoteMemory& memory, std::uint64_t coroutine) {
    return state(memory, coroutine).status == Status::executing;
}

std::uint64_t CoroutineChains::stack_top(const RemoteMemory& memory, std::uint64_t frame) {
    const GeneratorFrameLayout& f = layout_.frame;
    if (f.stacktop != absent) { // 3.8, 3.9: a pointer past the top, set while suspended
        const std::uint64_t top = read_pointer(memory, at(frame, f.stacktop));
        return top > 8 ? read_pointer(memory, top - 8) : 0;
    }
    StructBytes bytes;
    std::int64_t depth = 0;
    std::uint64_t base = 0;
    if (f.stackdepth != absent) { // 3.10: the value stack and its depth
        if (!bytes.read(memory, frame, FieldRange().add(f.valuestack, 8).add(f.stackdepth, 4)))
            return 0;
        depth = bytes.i32(f.stackdepth);
        base = bytes.u64(f.valuestack);
    } else { // 3.11+: the slots of localsplus in use, locals first
        std::int32_t count = 0;
        if (!memory.read_value(at(frame, f.stack_count), count))
            return 0;
        depth = count;
        base = at(frame, f.localsplus);
    }
    if (depth < 1 || depth > max_stack_slots)
        return 0;
    return read_pointer(memory, base + static_cast<std::uint64_t>(depth - 1) * 8);
}

bool CoroutineChains::in_yield_from(const RemoteMemory& memory, const GeneratorState& state) {
    const GeneratorFrameLayout& f = layout_.frame;
    const PythonLayout& python = objects_.layout();
    switch (f.yield_from) {
    case YieldFromModel::frame_state:
        return state.raw_state == f.state_suspended_yield_from;
    case YieldFromModel::next_resume: {
        // prev_instr is the YIELD_VALUE; a RESUME with oparg 2 (yield from) or 3 (await) follows.
        const std::uint64_t instr = read_pointer(memory, at(state.frame, python.interp_frame.instr));
        std::uint8_t next[2] = {};
        if (instr == 0 || !memory.read(instr + 2, next, sizeof next))
            return false;
        return (next[0] == f.resume_opcode || next[0] == f.resume_variant) && next[1] >= 2;
    }
    case YieldFromModel::next_opcode: {
        StructBytes bytes;
        if (!bytes.read(memory, state.frame,
                        FieldRange().add(python.frame_object.code, 8).add(python.frame_object.lasti, 4)))
            return false;
        const std::int64_t lasti = bytes.i32(python.frame_object.lasti);
        if (lasti < 0)
            return false;
        // f_lasti is the instruction before the YIELD_FROM, which runs again on resumption.
        const std::int64_t next = python.frame_object.lasti_in_code_units ? (lasti + 1) * 2 : lasti + 2;
        const std::uint64_t code_bytes =
            read_pointer(memory, at(bytes.u64(python.frame_object.code), f.code_bytes));
        std::int64_t size = 0;
        std::uint8_t opcode = 0;
        return plausible_object(code_bytes) &&
               memory.read_value(at(code_bytes, python.strings.bytes_size), size) && next < size &&
               memory.read_value(at(code_bytes, python.strings.bytes_data) + static_cast<std::uint64_t>(next),
                                 opcode) &&
               opcode == f.yield_from_opcode;
    }
    }
    return false;
}

std::uint64_t CoroutineChains::awaited(const RemoteMemory& memory, const GeneratorState& state) {
    if (state.status != Status::suspended || !in_yield_from(memory, state))
        return 0;
    return stack_top(memory, state.frame);
}

bool CoroutineChains::frame_of(const RemoteMemory& memory, std::uint64_t frame, PythonFrame& out,
                               std::uint64_t& errors) {
    PythonThread one;
    walker_.walk(memory, frame, one, errors, 1);
    if (one.frames.empty() || !one.frames.front().valid)
        return false;
    out = std::move(one.frames.front());
    return true;
}

CoroutineChain CoroutineChains::suspended(const RemoteMemory& memory, std::uint64_t coroutine,
                                          std::uint64_t& errors) {
    CoroutineChain chain; // outermost first until the end
    std::unordered_set<std::uint64_t> seen;
    for (std::uint64_t object = coroutine; object != 0;) {
        if (kind(memory, object) == GeneratorKind::none)
            break; // a future, or an awaitable we do not follow: the end of the chain
        if (chain.frames.size() >= max_chain_length || !seen.insert(object).second) {
            chain.truncated = true;
            break;
        }
        const GeneratorState state = this->state(memory, object);
        if (state.status == Status::finished)
            break;
        PythonFrame frame;
        if (state.status == Status::unreadable || !frame_of(memory, state.frame, frame, errors)) {
            chain.truncated = true;
            ++errors;
            break;
        }
        if (future_await_plumbing(frame))
            break;
        chain.frames.push_back(std::move(frame));
        object = awaited(memory, state);
    }
    std::reverse(chain.frames.begin(), chain.frames.end());
    return chain;
}

std::uint64_t CoroutineChains::outer_frame(const RemoteMemory& memory, std::uint64_t frame,
                                           std::uint64_t& generator) {
    const PythonLayout& python = objects_.layout();
    generator = 0;
    StructBytes bytes;
    if (python.frames == FrameModel::frame_object) {
        if (!bytes.read(memory, frame,
                        FieldRange().add(python.frame_object.back, 8).add(layout_.frame.gen, 8)))
            return 0;
        generator = bytes.u64(layout_.frame.gen);
        return bytes.u64(python.frame_object.back);
    }
    const InterpreterFrameLayout& f = python.interp_frame;
    if (!bytes.read(memory, frame, FieldRange().add(f.previous, 8).add(f.owner, 1)))
        return 0;
    // A generator's frame lives inside the generator object.
    if (bytes.u8(f.owner) == f.owner_generator)
        generator = frame - static_cast<std::uint64_t>(layout_.generator.iframe);
    return bytes.u64(f.previous);
}

CoroutineChain CoroutineChains::running(const RemoteMemory& memory, std::uint64_t coroutine,
                                        std::uint64_t innermost, std::uint64_t& errors) {
    CoroutineChain chain;
    const GeneratorState own = state(memory, coroutine);
    if (own.status == Status::unreadable || own.status == Status::finished) {
        chain.truncated = own.status == Status::unreadable;
        return chain;
    }
    std::unordered_set<std::uint64_t> seen;
    bool found = false;
    for (std::uint64_t frame = innermost; plausible_object(frame) && !found;) {
        if (seen.size() >= max_stack_frames || !seen.insert(frame).second)
            break;
        std::uint64_t generator = 0;
        const std::uint64_t outer = outer_frame(memory, frame, generator);
        found = frame == own.frame;
        const GeneratorKind generator_kind = generator ? kind(memory, generator) : GeneratorKind::none;
        PythonFrame python;
        if ((found || generator_kind == GeneratorKind::coroutine ||
             generator_kind == GeneratorKind::async_generator) &&
            frame_of(memory, frame, python, errors)) {
            if (chain.frames.size() >= max_chain_length) {
                chain.truncated = true;
                break;
            }
            chain.frames.push_back(std::move(python));
        }
        frame = outer;
    }
    if (found)
        return chain;
    // Not on the stack read (it moved on, or the stack is not the one expected): its own frame.
    CoroutineChain alone;
    PythonFrame python;
    alone.truncated = true;
    if (frame_of(memory, own.frame, python, errors))
        alone.frames.push_back(std::move(python));
    return alone;
}

} // namespace sampler::python

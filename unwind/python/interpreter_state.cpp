#include "interpreter_state.hpp"

#include "pthread_tid.hpp"
#include "struct_bytes.hpp"

#include <string>
#include <unistd.h>
#include <unordered_set>

namespace sampler::python {
namespace {

bool plausible_pointer(std::uint64_t address) {
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

std::uint64_t read_pointer(const RemoteMemory& memory, std::uint64_t address) {
    std::uint64_t value = 0;
    if (!plausible_pointer(address) || !memory.read_value(address, value))
        return 0;
    return value;
}

std::uint64_t field_address(std::uint64_t base, int offset) {
    return offset == absent ? 0 : base + static_cast<std::uint64_t>(offset);
}

} // namespace

std::vector<std::uint64_t> list_interpreters(const PythonTarget& target, const RemoteMemory& memory,
                                             std::uint64_t& errors) {
    const PythonLayout& layout = target.layout;
    std::uint64_t head =
        layout.entry == EntryModel::interp_head
            ? read_pointer(memory, target.entry_address)
            : read_pointer(memory, field_address(target.entry_address, layout.runtime.interpreters_head));
    std::vector<std::uint64_t> interpreters;
    std::unordered_set<std::uint64_t> seen;
    for (std::uint64_t interp = head; plausible_pointer(interp);
         interp = read_pointer(memory, field_address(interp, layout.interp.next))) {
        if (interpreters.size() >= max_interpreters || !seen.insert(interp).second) {
            ++errors;
            break;
        }
        interpreters.push_back(interp);
    }
    return interpreters;
}

namespace {

FieldRange thread_state_range(const ThreadStateLayout& t) {
    FieldRange range;
    range.add(t.next, 8).add(t.interp, 8).add(t.frame, 8).add(t.thread_id, 8).add(t.native_thread_id, 8);
    return range;
}

ThreadStateFields thread_state_fields(const ThreadStateLayout& t, std::uint64_t address,
                                      const StructBytes& bytes) {
    ThreadStateFields state;
    state.address = address;
    state.next = bytes.u64(t.next);
    state.interp = bytes.u64(t.interp);
    state.frame = bytes.u64(t.frame);
    state.thread_id = bytes.u64(t.thread_id);
    state.native_thread_id = bytes.u64(t.native_thread_id);
    return state;
}

} // namespace

bool read_thread_state(const PythonTarget& target, const RemoteMemory& memory, std::uint64_t address,
                       ThreadStateFields& out) {
    const ThreadStateLayout& t = target.layout.tstate;
    StructBytes bytes;
    if (!plausible_pointer(address) || !bytes.read(memory, address, thread_state_range(t)))
        return false;
    out = thread_state_fields(t, address, bytes);
    return true;
}

std::vector<ThreadStateFields> list_thread_states(const PythonTarget& target, const RemoteMemory& memory,
                                                  std::uint64_t interp, std::size_t max_threads,
                                                  std::uint64_t& errors) {
    const ThreadStateLayout& t = target.layout.tstate;
    const FieldRange range = thread_state_range(t);
    std::vector<ThreadStateFields> states;
    std::unordered_set<std::uint64_t> seen;
    std::uint64_t address = read_pointer(memory, field_address(interp, target.layout.interp.threads_head));
    while (address != 0) {
        StructBytes bytes;
        if (states.size() >= max_threads || !seen.insert(address).second || !plausible_pointer(address) ||
            !bytes.read(memory, address, range) || bytes.u64(t.interp) != interp) {
            ++errors;
            break;
        }
        ThreadStateFields state = thread_state_fields(t, address, bytes);
        states.push_back(state);
        address = state.next;
    }
    return states;
}

int thread_state_tid(const PythonTarget& target, const RemoteMemory& memory, const ThreadStateFields& state,
                     NamespaceTids& tids) {
    if (target.layout.tstate.native_thread_id != absent)
        return state.native_thread_id > 0 && state.native_thread_id <= (1u << 22)
                   ? tids.host_tid(static_cast<int>(state.native_thread_id))
                   : 0;
    int tid = tid_from_pthread(memory, state.thread_id);
    // A thread of the process for sure: the map lists only those.
    if (tids.nested())
        return tids.host_tid(tid);
    // The tid's offset in struct pthread is glibc's (2.36): on another C library the value read
    // there is no thread of the target, and no tid beats a wrong one.
    if (tid != 0 && target.pid > 0) {
        std::string task = "/proc/" + std::to_string(target.pid) + "/task/" + std::to_string(tid);
        if (::access(task.c_str(), F_OK) != 0)
            return 0;
    }
    return tid;
}

std::uint64_t innermost_frame(const PythonTarget& target, const RemoteMemory& memory,
                              const ThreadStateFields& state) {
    int in_cframe = target.layout.tstate.cframe_current_frame;
    if (in_cframe == absent)
        return state.frame;
    return read_pointer(memory, plausible_pointer(state.frame) ? field_address(state.frame, in_cframe) : 0);
}

std::uint64_t gil_holder(const PythonTarget& target, const RemoteMemory& memory, std::uint64_t interp) {
    const PythonLayout& layout = target.layout;
    switch (layout.gil_model) {
    case GilModel::current_symbol:
        return read_pointer(memory, target.gil_current_address);
    case GilModel::runtime_tstate_current:
        return read_pointer(memory, field_address(target.entry_address, layout.runtime.tstate_current));
    case GilModel::interpreter_gil: {
        std::uint64_t gil = read_pointer(memory, field_address(interp, layout.interp.gil_pointer));
        if (!plausible_pointer(gil))
            return 0;
        std::int32_t locked = 0;
        if (!memory.read_value(field_address(gil, layout.gil.locked), locked) || locked == 0)
            return 0;
        return read_pointer(memory, field_address(gil, layout.gil.last_holder));
    }
    }
    return 0;
}

std::optional<GilWords> find_gil_words(const PythonTarget& target, const RemoteMemory& memory,
                                       std::uint64_t interp) {
    const PythonLayout& layout = target.layout;
    GilWords words;
    switch (layout.gil_model) {
    case GilModel::current_symbol:
        words.holder = target.gil_current_address;
        break;
    case GilModel::runtime_tstate_current:
        words.holder = field_address(target.entry_address, layout.runtime.tstate_current);
        break;
    case GilModel::interpreter_gil: {
        const std::uint64_t gil = read_pointer(memory, field_address(interp, layout.interp.gil_pointer));
        if (!plausible_pointer(gil))
            return std::nullopt;
        words.holder = field_address(gil, layout.gil.last_holder);
        words.locked = field_address(gil, layout.gil.locked);
        if (words.locked == 0)
            return std::nullopt;
        break;
    }
    }
    if (!plausible_pointer(words.holder))
        return std::nullopt;
    return words;
}

std::uint64_t gil_holder_from(const GilWords& words, std::uint64_t holder_value, std::int32_t locked_value) {
    if (words.locked != 0 && locked_value == 0)
        return 0;
    return plausible_pointer(holder_value) ? holder_value : 0;
}

} // namespace sampler::python

#include "python_reader.hpp"

#include "interpreter_detection.hpp"
#include "interpreter_state.hpp"
#include "python_reader_impl.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace sampler {
namespace {

std::uint64_t& error_sink(std::uint64_t* errors, std::uint64_t& local) {
    return errors ? *errors : local;
}

} // namespace

PythonReader::PythonReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PythonReader::PythonReader(PythonReader&&) noexcept = default;
PythonReader& PythonReader::operator=(PythonReader&&) noexcept = default;
PythonReader::~PythonReader() = default;

std::optional<PythonReader> PythonReader::detect(int pid, const ModuleMap& modules,
                                                 const RemoteMemory& memory, std::string* why_not,
                                                 const PythonDetectOptions& options) {
    auto target = python::locate_interpreter(pid, modules, memory, options, why_not);
    if (!target)
        return std::nullopt;
    return PythonReader(std::make_unique<Impl>(std::move(*target)));
}

const std::string& PythonReader::version() const {
    return impl_->target.version;
}

const std::string& PythonReader::module_path() const {
    return impl_->target.module_path;
}

std::uint64_t PythonReader::runtime_address() const {
    return impl_->target.entry_address;
}

std::vector<PythonThread> PythonReader::read_threads(const RemoteMemory& memory, std::uint64_t* errors) {
    std::uint64_t local = 0;
    std::uint64_t& error_count = error_sink(errors, local);
    const python::PythonTarget& target = impl_->target;
    std::vector<PythonThread> threads;
    // Budgets across all interpreters, so corrupt lists cannot multiply the work.
    std::size_t frames_left = max_total_frames;
    for (std::uint64_t interp : python::list_interpreters(target, memory, error_count)) {
        std::uint64_t holder = python::gil_holder(target, memory, interp);
        for (const python::ThreadStateFields& state :
             python::list_thread_states(target, memory, interp, max_threads - threads.size(), error_count)) {
            PythonThread thread;
            thread.thread_state = state.address;
            thread.tid = python::thread_state_tid(target, memory, state, impl_->tids);
            thread.holds_gil = holder != 0 && holder == state.address;
            frames_left -= impl_->walker.walk(memory, python::innermost_frame(target, memory, state), thread,
                                              error_count, frames_left);
            threads.push_back(std::move(thread));
        }
        if (threads.size() >= max_threads)
            break;
    }
    return threads;
}

std::optional<python::GilWords>& main_gil_words(PythonReader::Impl& impl, const RemoteMemory& memory) {
    // Not found yet (the interpreter may still be starting): look again now and then, not at
    // every sample.
    constexpr unsigned retry_every = 64;
    if (!impl.gil_words && impl.gil_word_lookups++ % retry_every == 0) {
        std::uint64_t errors = 0;
        auto interpreters = python::list_interpreters(impl.target, memory, errors);
        if (!interpreters.empty())
            impl.gil_words = python::find_gil_words(impl.target, memory, interpreters.back());
    }
    return impl.gil_words;
}

namespace {

bool same_thread_state(const python::ThreadStateFields& a, const python::ThreadStateFields& b) {
    return a.address == b.address && a.interp == b.interp && a.thread_id == b.thread_id &&
           a.native_thread_id == b.native_thread_id;
}

} // namespace

void scan_thread_states(PythonReader::Impl& impl, const RemoteMemory& memory, std::vector<int>* found) {
    const python::PythonTarget& target = impl.target;
    auto& known = impl.state_by_tid;
    if (known.size() > 4 * PythonReader::max_threads)
        known.clear(); // bounded, whatever the target's thread churn
    std::uint64_t scan_errors = 0;
    for (std::uint64_t interp : python::list_interpreters(target, memory, scan_errors)) {
        for (const python::ThreadStateFields& candidate :
             python::list_thread_states(target, memory, interp, PythonReader::max_threads, scan_errors)) {
            if (const int candidate_tid = python::thread_state_tid(target, memory, candidate, impl.tids)) {
                known[candidate_tid] = candidate;
                if (found)
                    found->push_back(candidate_tid);
            }
        }
    }
}

namespace {

// The thread state of OS thread `tid`. One found before is re-read and kept while it still
// matches; otherwise one scan learns every thread state's tid, so the next lookups of other
// threads hit: a round over N threads costs N small reads, not N scans of N states.
bool find_thread_state(PythonReader::Impl& impl, const RemoteMemory& memory, int tid,
                       python::ThreadStateFields& state) {
    const python::PythonTarget& target = impl.target;
    auto& known = impl.state_by_tid;
    if (auto cached = known.find(tid); cached != known.end()) {
        if (python::read_thread_state(target, memory, cached->second.address, state) &&
            same_thread_state(state, cached->second))
            return true;
        known.erase(cached);
    }
    scan_thread_states(impl, memory);
    const auto found = known.find(tid);
    if (found == known.end())
        return false;
    state = found->second;
    return true;
}

} // namespace

void PythonReader::recycle(PythonThread&& thread) {
    std::vector<PythonFrame>& spares = impl_->spare_thread.spare_frames;
    if (spares.size() < thread.spare_frames.size())
        std::swap(spares, thread.spare_frames);
    // Moved, a frame's strings keep their buffers; bounded by the deepest stack read.
    for (PythonFrame& frame : thread.frames)
        if (spares.size() < max_depth)
            spares.push_back(std::move(frame));
    thread.frames.clear();
    if (thread.frames.capacity() > impl_->spare_thread.frames.capacity())
        impl_->spare_thread.frames = std::move(thread.frames);
}

std::optional<PythonThread> PythonReader::read_thread(const RemoteMemory& memory, int tid,
                                                      std::uint64_t* errors, std::size_t max_frames) {
    std::uint64_t local = 0;
    std::uint64_t& error_count = error_sink(errors, local);
    const python::PythonTarget& target = impl_->target;
    python::ThreadStateFields state;
    if (!find_thread_state(*impl_, memory, tid, state))
        return std::nullopt;
    PythonThread thread = impl_->take_spare_thread();
    thread.thread_state = state.address;
    thread.tid = tid;
    const std::uint64_t holder = python::gil_holder(target, memory, state.interp);
    thread.holds_gil = holder != 0 && holder == state.address;
    impl_->walker.walk(memory, python::innermost_frame(target, memory, state), thread, error_count,
                       std::min(max_frames, max_depth));
    return thread;
}

const std::vector<RemoteMemory::Piece>& PythonReader::first_check_pieces(int tid) {
    Impl::PlannedCheck& plan = impl_->planned;
    plan.tid = 0;
    plan.pieces.clear();
    const python::ThreadStateLayout& t = impl_->target.layout.tstate;
    auto state = impl_->state_by_tid.find(tid);
    auto innermost = impl_->innermost_by_tid.find(tid);
    if (t.frame == python::absent || state == impl_->state_by_tid.end() ||
        innermost == impl_->innermost_by_tid.end())
        return plan.pieces;
    // The identity of the code objects the last walk used comes first: read after the pages
    // and before the top words, while the frames that hold those objects hold (the top word
    // check tells), it confirms them as the check after the walk would (one call fewer).
    plan.code_addresses.clear();
    if (auto codes = impl_->codes_by_tid.find(tid); codes != impl_->codes_by_tid.end()) {
        const auto begin = static_cast<std::uint64_t>(impl_->codes.identity_range().begin);
        const std::size_t size = impl_->codes.identity_size();
        for (const Impl::PlannedCode& code : codes->second)
            plan.code_addresses.push_back(code.address);
        plan.code_identities.resize(plan.code_addresses.size() * size);
        for (std::size_t i = 0; i < plan.code_addresses.size(); ++i)
            plan.pieces.push_back(
                {plan.code_addresses[i] + begin, plan.code_identities.data() + i * size, size});
    }
    // Then in the order the first check reads them: the thread state's word, the cframe's, the
    // innermost frame's code word (its whole page: the innermost frame moves, mostly within
    // it), then the GIL's.
    plan.frame_word_at = state->second.address + static_cast<std::uint64_t>(t.frame);
    plan.pieces.push_back({plan.frame_word_at, &plan.frame_word, 8});
    plan.cframe_word_at = 0;
    if (t.cframe_current_frame != python::absent) {
        if (state->second.frame == 0) {
            plan.pieces.clear();
            return plan.pieces;
        }
        plan.cframe_word_at = state->second.frame + static_cast<std::uint64_t>(t.cframe_current_frame);
        plan.pieces.push_back({plan.cframe_word_at, &plan.cframe_word, 8});
    }
    plan.page_at = 0;
    if (innermost->second != 0 && impl_->walker.code_offset() != python::absent) {
        plan.page_at = (innermost->second + static_cast<std::uint64_t>(impl_->walker.code_offset())) &
                       ~std::uint64_t{RemoteMemory::page_size - 1};
        plan.page.resize(RemoteMemory::page_size);
        plan.pieces.push_back({plan.page_at, plan.page.data(), plan.page.size()});
    }
    plan.gil = impl_->gil_words.has_value();
    if (plan.gil) {
        plan.pieces.push_back({impl_->gil_words->holder, &plan.gil_holder, sizeof plan.gil_holder});
        if (impl_->gil_words->locked != 0)
            plan.pieces.push_back({impl_->gil_words->locked, &plan.gil_locked, sizeof plan.gil_locked});
    }
    plan.tid = tid;
    return plan.pieces;
}

namespace {

// The code objects whose identity a thread's next snapshot reads: those this walk took from the
// cache, and those any of the last few walks took (a stack that moves in and out of a few
// functions keeps them all planned); at most a bound, the most recently used kept, sorted by
// address.
void remember_codes(std::vector<PythonReader::Impl::PlannedCode>& planned,
                    const std::vector<std::uint64_t>& used) {
    constexpr std::size_t max_planned_codes = 32;
    constexpr unsigned max_walks_unused = 8;
    std::vector<PythonReader::Impl::PlannedCode> merged;
    merged.reserve(std::min(planned.size() + used.size(), 2 * max_planned_codes));
    auto before = planned.begin();
    for (std::uint64_t code : used) {
        for (; before != planned.end() && before->address < code; ++before)
            if (before->walks_unused < max_walks_unused)
                merged.push_back({before->address, before->walks_unused + 1});
        if (before != planned.end() && before->address == code)
            ++before;
        merged.push_back({code, 0});
    }
    for (; before != planned.end(); ++before)
        if (before->walks_unused < max_walks_unused)
            merged.push_back({before->address, before->walks_unused + 1});
    if (merged.size() > max_planned_codes) {
        // The most recently used first (this walk's), then back to address order.
        std::stable_sort(merged.begin(), merged.end(),
                         [](const auto& a, const auto& b) { return a.walks_unused < b.walks_unused; });
        merged.resize(max_planned_codes);
        std::sort(merged.begin(), merged.end(),
                  [](const auto& a, const auto& b) { return a.address < b.address; });
    }
    planned = std::move(merged);
}

// The value a planned first check read at `address` (8 bytes), if it read there.
std::optional<std::uint64_t> planned_word(const PythonReader::Impl::PlannedCheck& plan,
                                          std::uint64_t address) {
    if (address == plan.frame_word_at)
        return plan.frame_word;
    if (plan.cframe_word_at != 0 && address == plan.cframe_word_at)
        return plan.cframe_word;
    if (plan.page_at != 0 && address >= plan.page_at && address + 8 <= plan.page_at + plan.page.size()) {
        std::uint64_t value = 0;
        std::memcpy(&value, plan.page.data() + (address - plan.page_at), 8);
        return value;
    }
    return std::nullopt;
}

} // namespace

PythonReader::CheckedThread PythonReader::read_running_thread(const RemoteMemory& snapshot,
                                                              const RemoteMemory& live, int tid,
                                                              std::size_t max_frames, std::uint64_t* errors,
                                                              std::size_t first_check_read) {
    std::uint64_t local = 0;
    std::uint64_t& error_count = error_sink(errors, local);
    const python::PythonTarget& target = impl_->target;
    CheckedThread result;

    python::ThreadStateFields state;
    if (!find_thread_state(*impl_, snapshot, tid, state))
        return result;

    PythonThread thread = impl_->take_spare_thread();
    thread.thread_state = state.address;
    thread.tid = tid;
    const std::uint64_t innermost = python::innermost_frame(target, snapshot, state);
    const std::uint64_t innermost_code = impl_->walker.code_of(snapshot, innermost);

    const python::ThreadStateLayout& t = target.layout.tstate;
    if (t.frame == python::absent) {
        impl_->walker.walk(snapshot, innermost, thread, error_count, std::min(max_frames, max_depth));
        result.thread = std::move(thread);
        return result; // nothing to check against: not consistent
    }
    // The top of the stack as the snapshot has it: the thread's current frame, its innermost
    // frame and that frame's code. Read again straight from the target, the same words tell
    // whether the thread called or returned since. The line is not compared: a running thread
    // moves on between any two reads, and the line recorded is the one the walk read.
    std::vector<RemoteMemory::Piece>& pieces = impl_->check_pieces;
    std::uint64_t expected[3];
    std::uint64_t got[3] = {};
    auto add_top_words = [&] {
        pieces.push_back({state.address + static_cast<std::uint64_t>(t.frame), &got[0], 8});
        expected[0] = state.frame;
        if (t.cframe_current_frame != python::absent && state.frame != 0) {
            pieces.push_back(
                {state.frame + static_cast<std::uint64_t>(t.cframe_current_frame), &got[pieces.size()], 8});
            expected[pieces.size() - 1] = innermost;
        }
        if (innermost != 0 && impl_->walker.code_offset() != python::absent) {
            pieces.push_back({innermost + static_cast<std::uint64_t>(impl_->walker.code_offset()),
                              &got[pieces.size()], 8});
            expected[pieces.size() - 1] = innermost_code;
        }
        return pieces.size();
    };
    auto top_unchanged = [&](std::size_t words, std::size_t read) {
        if (read < words)
            return false;
        const bool code_last = innermost != 0 && impl_->walker.code_offset() != python::absent;
        for (std::size_t i = 0; i < words; ++i) {
            const std::uint64_t value =
                code_last && i == words - 1 ? got[i] & impl_->walker.code_mask() : got[i];
            if (value != expected[i])
                return false;
        }
        return true;
    };

    // The first check, right after the snapshot's top was read: unchanged since, the frames
    // under it are as the snapshot has them (a frame's callers do not change while it runs),
    // however long the walk then takes, as long as the walk reads nothing more of the target.
    // Who holds the GIL rides along, last, so that words which cannot be read cost the GIL
    // share, never the sample.
    pieces.clear();
    const std::size_t top_words = add_top_words();
    std::uint64_t holder_value = 0;
    std::int32_t locked_value = 0;
    std::optional<python::GilWords>& gil = main_gil_words(*impl_, live);
    if (gil) {
        pieces.push_back({gil->holder, &holder_value, sizeof holder_value});
        if (gil->locked != 0)
            pieces.push_back({gil->locked, &locked_value, sizeof locked_value});
    }
    // Read by the caller with the snapshot, when it read every planned piece at the addresses
    // this snapshot's top has: else from the target now.
    const Impl::PlannedCheck& plan = impl_->planned;
    bool planned = plan.tid == tid && first_check_read > 0 && first_check_read == plan.pieces.size();
    for (std::size_t i = 0; i < top_words && planned; ++i) {
        const std::optional<std::uint64_t> value = planned_word(plan, pieces[i].address);
        planned = value.has_value();
        got[i] = value.value_or(0);
    }
    std::size_t first_read = 0;
    if (planned) {
        first_read = top_words;
        if (gil && plan.gil) {
            holder_value = plan.gil_holder;
            locked_value = plan.gil_locked;
            first_read = pieces.size();
        }
    } else {
        first_read = live.read_scattered(pieces.data(), pieces.size());
        if (gil && first_read >= top_words && first_read < pieces.size())
            gil.reset(); // found wrong, or gone: look for it again
    }
    const bool codes_planned = planned && !plan.code_addresses.empty();
    if (plan.tid == tid && first_check_read < plan.code_addresses.size()) {
        // The read stopped at this code object (freed, its memory gone): planned no more.
        std::vector<Impl::PlannedCode>& codes = impl_->codes_by_tid[tid];
        const std::uint64_t unreadable = plan.code_addresses[first_check_read];
        std::erase_if(codes, [&](const Impl::PlannedCode& code) { return code.address == unreadable; });
    }
    impl_->planned.tid = 0;
    const bool top_held = top_unchanged(top_words, first_read);
    const bool gil_read = gil && first_read == pieces.size();
    const std::optional<std::uint64_t> fetched_before_walk = snapshot.fetches();

    std::vector<std::uint64_t>& unchecked = impl_->unchecked_codes;
    unchecked.clear();
    impl_->walker.walk(snapshot, innermost, thread, error_count, std::min(max_frames, max_depth), &unchecked);
    const bool walk_from_snapshot = fetched_before_walk && snapshot.fetches() == fetched_before_walk;

    // The second check, after the walk: every code object it took from the cache still the one
    // decoded, and, when the first check failed or the walk had to read the target again, the
    // top still the walk's (the frames then hold from the snapshot to this read).
    std::sort(unchecked.begin(), unchecked.end());
    unchecked.erase(std::unique(unchecked.begin(), unchecked.end()), unchecked.end());
    if (impl_->codes_by_tid.size() > 4 * PythonReader::max_threads)
        impl_->codes_by_tid.clear(); // bounded, whatever the target's thread churn
    remember_codes(impl_->codes_by_tid[tid], unchecked);
    const bool top_settled = top_held && walk_from_snapshot;
    bool consistent = top_settled;
    if (top_settled && codes_planned) {
        // The codes read with the snapshot are confirmed from those bytes; only the others, new
        // since the last walk, are left for the check below.
        const std::size_t size = impl_->codes.identity_size();
        std::size_t left = 0;
        for (std::uint64_t code : unchecked) {
            auto at = std::lower_bound(plan.code_addresses.begin(), plan.code_addresses.end(), code);
            if (at == plan.code_addresses.end() || *at != code)
                unchecked[left++] = code;
            else if (!impl_->codes.confirm(
                         code, plan.code_identities.data() +
                                   static_cast<std::size_t>(at - plan.code_addresses.begin()) * size))
                consistent = false;
        }
        unchecked.resize(left);
    }
    if (consistent ? !unchecked.empty() : !top_settled) {
        pieces.clear();
        const std::size_t words = top_settled ? 0 : add_top_words();
        const auto begin = static_cast<std::uint64_t>(impl_->codes.identity_range().begin);
        const std::size_t size = impl_->codes.identity_size();
        std::vector<std::uint8_t>& identities = impl_->identity_bytes;
        identities.resize(unchecked.size() * size);
        for (std::size_t i = 0; i < unchecked.size(); ++i)
            pieces.push_back({unchecked[i] + begin, identities.data() + i * size, size});
        const std::size_t read = live.read_scattered(pieces.data(), pieces.size());
        consistent = read == pieces.size() && (top_settled || top_unchanged(words, read));
        // A code object freed and its address reused: the cached entry is dropped, and the read
        // again (by the caller) decodes the new one.
        for (std::size_t i = 0; i < unchecked.size() && consistent; ++i)
            consistent = impl_->codes.confirm(unchecked[i], identities.data() + i * size);
    }
    // The top held, but the frames below it did not: read again, or dropped as torn.
    if (thread.ends_at_suspended_generator)
        consistent = false;
    result.consistent = consistent;
    if (impl_->innermost_by_tid.size() > 4 * PythonReader::max_threads)
        impl_->innermost_by_tid.clear(); // bounded, whatever the target's thread churn
    impl_->innermost_by_tid[tid] = innermost;
    if (gil_read && consistent) {
        result.gil_known = true;
        result.holds_gil = python::gil_holder_from(*gil, holder_value, locked_value) == state.address;
    }
    result.thread = std::move(thread);
    return result;
}

std::uint64_t PythonReader::gil_holder_state(const RemoteMemory& memory) {
    std::uint64_t errors = 0;
    auto interpreters = python::list_interpreters(impl_->target, memory, errors);
    return interpreters.empty() ? 0 : python::gil_holder(impl_->target, memory, interpreters.back());
}

int PythonReader::gil_holder_tid(const RemoteMemory& memory) {
    std::uint64_t errors = 0;
    const python::PythonTarget& target = impl_->target;
    auto interpreters = python::list_interpreters(target, memory, errors);
    if (interpreters.empty())
        return 0;
    // Up to 3.11 one GIL serves every interpreter; from 3.12 each may have its own, and we
    // report the main (oldest, last listed) interpreter's.
    bool per_interpreter = target.layout.gil_model == python::GilModel::interpreter_gil;
    std::uint64_t holder = python::gil_holder(target, memory, interpreters.back());
    if (holder == 0)
        return 0;
    for (std::uint64_t interp : interpreters) {
        if (per_interpreter && interp != interpreters.back())
            continue;
        for (const python::ThreadStateFields& state :
             python::list_thread_states(target, memory, interp, max_threads, errors))
            if (state.address == holder)
                return python::thread_state_tid(target, memory, state, impl_->tids);
    }
    return 0;
}

std::unordered_map<int, std::string> PythonReader::thread_names(const RemoteMemory& memory) {
    std::uint64_t errors = 0; // a thread list that cannot be read just leaves its names out
    const python::PythonTarget& target = impl_->target;
    std::unordered_map<int, std::string> names;
    std::size_t states_left = max_threads; // across all interpreters, like read_threads
    for (std::uint64_t interp : python::list_interpreters(target, memory, errors)) {
        std::unordered_map<std::uint64_t, int> tid_by_ident;
        std::unordered_set<std::uint64_t> idents;
        auto states = python::list_thread_states(target, memory, interp, states_left, errors);
        states_left -= std::min(states_left, states.size());
        for (const python::ThreadStateFields& state : states) {
            if (int tid = python::thread_state_tid(target, memory, state, impl_->tids); tid != 0) {
                tid_by_ident[state.thread_id] = tid;
                idents.insert(state.thread_id);
            }
        }
        for (auto& [ident, name] : impl_->names.read(memory, interp, idents))
            names[tid_by_ident[ident]] = std::move(name);
        if (states_left == 0)
            break;
    }
    return names;
}

} // namespace sampler

#include "python_reader.hpp"

#include "interpreter_detection.hpp"
#include "interpreter_state.hpp"
#include "python_reader_impl.hpp"

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
            thread.tid = python::thread_state_tid(target, memory, state);
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

std::optional<PythonThread> PythonReader::read_thread(const RemoteMemory& memory, int tid,
                                                      std::uint64_t* errors) {
    std::uint64_t local = 0;
    std::uint64_t& error_count = error_sink(errors, local);
    const python::PythonTarget& target = impl_->target;
    for (std::uint64_t interp : python::list_interpreters(target, memory, error_count)) {
        for (const python::ThreadStateFields& state :
             python::list_thread_states(target, memory, interp, max_threads, error_count)) {
            if (python::thread_state_tid(target, memory, state) != tid)
                continue;
            PythonThread thread;
            thread.thread_state = state.address;
            thread.tid = tid;
            std::uint64_t holder = python::gil_holder(target, memory, interp);
            thread.holds_gil = holder != 0 && holder == state.address;
            impl_->walker.walk(memory, python::innermost_frame(target, memory, state), thread, error_count);
            return thread;
        }
    }
    return std::nullopt;
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
                return python::thread_state_tid(target, memory, state);
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
            if (int tid = python::thread_state_tid(target, memory, state); tid != 0) {
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

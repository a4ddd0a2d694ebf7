#include "python_reader.hpp"

#include "interpreter_detection.hpp"
#include "interpreter_state.hpp"
#include "python_reader_impl.hpp"

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

} // namespace sampler

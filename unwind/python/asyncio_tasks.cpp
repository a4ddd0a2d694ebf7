#include "asyncio_tasks.hpp"

#include "coroutine_chain.hpp"
#include "interpreter_state.hpp"
#include "python_reader_impl.hpp"
#include "sampler/error.hpp"
#include "task_object.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace sampler {
namespace {

constexpr int max_nested_gathers = 8; // gather(gather(...)) levels followed

const python::AsyncioLayout& supported_layout(const python::PythonTarget& target) {
    const python::PythonLayout& layout = target.layout;
    if (const python::AsyncioLayout* found = python::asyncio_layout_for(layout.major, layout.minor))
        return *found;
    throw Error(ErrorKind::unsupported,
                "asyncio tasks can be read from CPython 3.8 to 3.13; this process runs "
                "CPython " +
                    target.version);
}

} // namespace

struct AsyncioTaskReader::Impl {
    explicit Impl(PythonReader::Impl& python)
        : python(python), layout(supported_layout(python.target)), globals(python.objects),
          containers(python.target.layout, layout.containers), module(layout, globals, containers),
          tasks(layout, globals, containers, types),
          chains(layout, python.objects, python.walker, containers, types) {}

    std::optional<python::AsyncioGlobals> asyncio_globals(const RemoteMemory& memory, std::uint64_t interp,
                                                          std::string& why_not);
    std::vector<std::pair<std::uint64_t, python::TaskKind>> loop_tasks(const RemoteMemory& memory,
                                                                       const python::AsyncioGlobals& found,
                                                                       std::uint64_t loop, bool& truncated);
    std::uint64_t innermost_frame(const RemoteMemory& memory, const AsyncioLoopRef& loop);
    std::uint64_t current_task(const RemoteMemory& memory, const python::AsyncioGlobals& found,
                               std::uint64_t loop);
    void find_threads(const RemoteMemory& memory, std::uint64_t interp, std::vector<AsyncioLoopRef>& loops);
    void add_awaiters(const RemoteMemory& memory, const python::AsyncioGlobals& found,
                      const std::vector<python::TaskFields>& fields, AsyncioLoop& result);
    AsyncioTask describe(const RemoteMemory& memory, std::uint64_t address, const python::TaskFields& fields,
                         std::uint64_t running_task, std::uint64_t innermost, std::uint64_t& errors);

    PythonReader::Impl& python;
    const python::AsyncioLayout& layout;
    python::ModuleGlobals globals;
    python::ContainerReader containers;
    python::TypeNames types;
    python::AsyncioModule module;
    python::TaskObjects tasks;
    python::CoroutineChains chains;
    // Per interpreter, once found: checked on each use (still a dict where _current_tasks was).
    std::unordered_map<std::uint64_t, python::AsyncioGlobals> found_globals;
    // loop -> its _ready deque (0: it has none), until the loops are listed again.
    std::unordered_map<std::uint64_t, std::uint64_t> ready_queues;
};

std::optional<python::AsyncioGlobals> AsyncioTaskReader::Impl::asyncio_globals(const RemoteMemory& memory,
                                                                               std::uint64_t interp,
                                                                               std::string& why_not) {
    if (auto cached = found_globals.find(interp); cached != found_globals.end()) {
        if (globals.is_dict(memory, cached->second.current_tasks))
            return cached->second;
        found_globals.erase(cached);
    }
    auto found = module.find(memory, globals.modules(memory, interp), why_not);
    if (found && found_globals.size() < python::max_interpreters)
        found_globals.emplace(interp, *found);
    return found;
}

std::vector<std::pair<std::uint64_t, python::TaskKind>>
AsyncioTaskReader::Impl::loop_tasks(const RemoteMemory& memory, const python::AsyncioGlobals& found,
                                    std::uint64_t loop, bool& truncated) {
    python::TaskList registered = module.registered_tasks(memory, found);
    truncated = registered.truncated;
    std::vector<std::pair<std::uint64_t, python::TaskKind>> result;
    std::unordered_set<std::uint64_t> seen; // a task both eager and scheduled is listed once
    for (std::uint64_t task : registered.tasks) {
        const python::TaskKind kind = tasks.kind(memory, task, found);
        if (kind != python::TaskKind::none && tasks.loop_of(memory, task, kind) == loop &&
            seen.insert(task).second)
            result.emplace_back(task, kind);
    }
    return result;
}

void AsyncioTaskReader::Impl::find_threads(const RemoteMemory& memory, std::uint64_t interp,
                                           std::vector<AsyncioLoopRef>& loops) {
    std::uint64_t errors = 0;
    std::unordered_map<std::uint64_t, int> tid_by_ident;
    for (const python::ThreadStateFields& state :
         python::list_thread_states(python.target, memory, interp, PythonReader::max_threads, errors))
        tid_by_ident.emplace(state.thread_id,
                             python::thread_state_tid(python.target, memory, state, python.tids));
    for (AsyncioLoopRef& loop : loops) {
        // BaseEventLoop sets _thread_id (threading.get_ident(): the pthread_t the thread state
        // records) while run_forever() runs, and None otherwise.
        auto ident = tasks.attribute(memory, loop.loop, "_thread_id");
        auto value = ident ? containers.small_int(memory, *ident) : std::nullopt;
        if (!value || *value == 0)
            continue;
        loop.thread_ident = *value;
        if (auto tid = tid_by_ident.find(*value); tid != tid_by_ident.end())
            loop.tid = tid->second;
    }
}

std::uint64_t AsyncioTaskReader::Impl::current_task(const RemoteMemory& memory,
                                                    const python::AsyncioGlobals& found, std::uint64_t loop) {
    for (const python::DictEntry& entry : module.current_tasks(memory, found))
        if (entry.key == loop)
            return entry.value;
    return 0;
}

std::uint64_t AsyncioTaskReader::Impl::innermost_frame(const RemoteMemory& memory,
                                                       const AsyncioLoopRef& loop) {
    if (loop.thread_ident == 0)
        return 0;
    std::uint64_t errors = 0;
    for (const python::ThreadStateFields& state :
         python::list_thread_states(python.target, memory, loop.interp, PythonReader::max_threads, errors))
        if (state.thread_id == loop.thread_ident)
            return python::innermost_frame(python.target, memory, state);
    return 0;
}

AsyncioTask AsyncioTaskReader::Impl::describe(const RemoteMemory& memory, std::uint64_t address,
                                              const python::TaskFields& fields, std::uint64_t running_task,
                                              std::uint64_t innermost, std::uint64_t& errors) {
    AsyncioTask task;
    task.address = address;
    task.python_task = fields.kind == python::TaskKind::python_task;
    task.name = tasks.name(memory, fields.name).value_or("<unreadable>");
    task.state = fields.state != python::future_pending ? TaskState::done
                 : address == running_task              ? TaskState::running
                                                        : TaskState::pending;
    task.cancelled = fields.state == python::future_cancelled;
    if (fields.coro != 0 && task.state != TaskState::done) {
        // A coroutine that runs has its chain on its thread's stack; one that waits, through its awaits.
        python::CoroutineChain chain = innermost != 0 && chains.executing(memory, fields.coro)
                                           ? chains.running(memory, fields.coro, innermost, errors)
                                           : chains.suspended(memory, fields.coro, errors);
        task.coroutines = std::move(chain.frames);
        task.chain_truncated = chain.truncated;
    }
    return task;
}

void AsyncioTaskReader::Impl::add_awaiters(const RemoteMemory& memory, const python::AsyncioGlobals& found,
                                           const std::vector<python::TaskFields>& fields,
                                           AsyncioLoop& result) {
    std::unordered_map<std::uint64_t, std::size_t> index;
    for (std::size_t i = 0; i < result.tasks.size(); ++i)
        index.emplace(result.tasks[i].address, i);
    auto add = [&](std::uint64_t awaited, std::uint64_t awaiter, AwaitVia via) {
        auto found_task = index.find(awaited);
        if (found_task == index.end() || awaited == awaiter)
            return;
        std::vector<TaskAwaiter>& list = result.tasks[found_task->second].awaited_by;
        const TaskAwaiter entry{awaiter, via};
        if (std::find(list.begin(), list.end(), entry) == list.end())
            list.push_back(entry);
    };
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::uint64_t awaiter = result.tasks[i].address;
        // What the task waits on: a task of this loop, or a gather's future whose children
        // (tasks, or nested gathers' futures) it thereby awaits.
        std::vector<std::uint64_t> futures{fields[i].fut_waiter};
        for (int level = 0; level <= max_nested_gathers && !futures.empty(); ++level) {
            std::vector<std::uint64_t> nested;
            for (std::uint64_t future : futures) {
                if (index.contains(future)) {
                    add(future, awaiter, level == 0 ? AwaitVia::task : AwaitVia::gather);
                } else if (auto children = tasks.gather_children(memory, future, found)) {
                    for (std::uint64_t child : *children)
                        if (nested.size() < python::max_sequence_items)
                            nested.push_back(child);
                }
            }
            futures = std::move(nested);
        }
        // Done callbacks: a TaskGroup's children carry its bound _on_task_done.
        for (std::uint64_t callback : fields[i].callbacks)
            if (const std::uint64_t parent = tasks.task_group_parent(memory, callback))
                add(awaiter, parent, AwaitVia::task_group);
    }
}

AsyncioTaskReader::AsyncioTaskReader(PythonReader& python) : impl_(std::make_unique<Impl>(python.impl())) {}
AsyncioTaskReader::AsyncioTaskReader(AsyncioTaskReader&&) noexcept = default;
AsyncioTaskReader& AsyncioTaskReader::operator=(AsyncioTaskReader&&) noexcept = default;
AsyncioTaskReader::~AsyncioTaskReader() = default;

std::vector<AsyncioLoopRef> AsyncioTaskReader::loops(const RemoteMemory& memory, std::string* why_none) {
    Impl& impl = *impl_;
    impl.types.forget(); // heap types may have been freed since the last look
    impl.tasks.forget();
    impl.found_globals.clear();
    impl.ready_queues.clear();
    std::vector<AsyncioLoopRef> loops;
    std::string why;
    std::uint64_t errors = 0;
    for (std::uint64_t interp : python::list_interpreters(impl.python.target, memory, errors)) {
        auto found = impl.asyncio_globals(memory, interp, why);
        if (!found)
            continue;
        std::vector<AsyncioLoopRef> here;
        std::unordered_set<std::uint64_t> seen;
        for (std::uint64_t task : impl.module.registered_tasks(memory, *found).tasks) {
            const python::TaskKind kind = impl.tasks.kind(memory, task, *found);
            const std::uint64_t loop =
                kind == python::TaskKind::none ? 0 : impl.tasks.loop_of(memory, task, kind);
            if (python::plausible_object(loop) && loops.size() + here.size() < max_loops &&
                seen.insert(loop).second)
                here.push_back({.loop = loop, .interp = interp});
        }
        impl.find_threads(memory, interp, here);
        loops.insert(loops.end(), here.begin(), here.end());
    }
    if (why_none)
        *why_none = loops.empty() ? why : std::string();
    return loops;
}

AsyncioLoop AsyncioTaskReader::read_loop(const RemoteMemory& memory, const AsyncioLoopRef& loop) {
    Impl& impl = *impl_;
    AsyncioLoop result;
    result.ref = loop;
    std::string why;
    auto found = impl.asyncio_globals(memory, loop.interp, why);
    if (!found) {
        result.truncated = true;
        return result;
    }
    result.running_task = running_task(memory, loop);
    const std::uint64_t innermost = impl.innermost_frame(memory, loop);
    std::vector<python::TaskFields> fields;
    for (const auto& [address, kind] : impl.loop_tasks(memory, *found, loop.loop, result.truncated)) {
        auto read = impl.tasks.read(memory, address, kind);
        if (!read) {
            ++result.errors;
            continue;
        }
        result.tasks.push_back(
            impl.describe(memory, address, *read, result.running_task, innermost, result.errors));
        fields.push_back(std::move(*read));
    }
    impl.add_awaiters(memory, *found, fields, result);
    return result;
}

std::uint64_t AsyncioTaskReader::running_task(const RemoteMemory& memory, const AsyncioLoopRef& loop) {
    std::string why;
    auto found = impl_->asyncio_globals(memory, loop.interp, why);
    return found ? impl_->current_task(memory, *found, loop.loop) : 0;
}

std::optional<RunningTask> AsyncioTaskReader::running_task_named(const RemoteMemory& memory,
                                                                 const AsyncioLoopRef& loop) {
    Impl& impl = *impl_;
    std::string why;
    auto found = impl.asyncio_globals(memory, loop.interp, why);
    const std::uint64_t task = found ? impl.current_task(memory, *found, loop.loop) : 0;
    if (task == 0)
        return std::nullopt;
    return task_named(memory, loop, task);
}

RunningTask AsyncioTaskReader::task_named(const RemoteMemory& memory, const AsyncioLoopRef& loop,
                                          std::uint64_t task) {
    Impl& impl = *impl_;
    std::string why;
    RunningTask running;
    running.address = task;
    auto found = impl.asyncio_globals(memory, loop.interp, why);
    if (!found || task == 0)
        return running;
    auto fields = impl.tasks.read_head(memory, task, impl.tasks.kind(memory, task, *found));
    if (!fields || fields->loop != loop.loop)
        return running;
    running.name = impl.tasks.name(memory, fields->name).value_or(running.name);
    running.coroutine = impl.chains.name(memory, fields->coro).value_or("");
    return running;
}

std::optional<AsyncioTask> AsyncioTaskReader::read_task(const RemoteMemory& memory,
                                                        const AsyncioLoopRef& loop, std::uint64_t task) {
    Impl& impl = *impl_;
    std::string why;
    auto found = impl.asyncio_globals(memory, loop.interp, why);
    const python::TaskKind kind = found ? impl.tasks.kind(memory, task, *found) : python::TaskKind::none;
    auto fields = impl.tasks.read(memory, task, kind);
    if (!fields || fields->loop != loop.loop)
        return std::nullopt;
    std::uint64_t errors = 0;
    return impl.describe(memory, task, *fields, running_task(memory, loop),
                         impl.innermost_frame(memory, loop), errors);
}

std::optional<std::string> AsyncioTaskReader::task_name(const RemoteMemory& memory,
                                                        const AsyncioLoopRef& loop, std::uint64_t task) {
    std::string why;
    auto found = impl_->asyncio_globals(memory, loop.interp, why);
    if (!found)
        return std::nullopt;
    const python::TaskKind kind = impl_->tasks.kind(memory, task, *found);
    auto fields = impl_->tasks.read_head(memory, task, kind);
    return fields ? impl_->tasks.name(memory, fields->name) : std::nullopt;
}

std::optional<std::uint64_t> AsyncioTaskReader::callbacks_started(const RemoteMemory& memory,
                                                                  const AsyncioLoopRef& loop) {
    Impl& impl = *impl_;
    auto known = impl.ready_queues.find(loop.loop);
    if (known == impl.ready_queues.end()) {
        std::uint64_t deque = 0;
        if (auto ready = impl.tasks.attribute(memory, loop.loop, "_ready");
            ready && impl.types.name(memory, impl.containers.type_of(memory, *ready)) == "collections.deque")
            deque = *ready;
        if (impl.ready_queues.size() >= max_loops)
            impl.ready_queues.clear();
        known = impl.ready_queues.emplace(loop.loop, deque).first;
    }
    if (known->second == 0)
        return std::nullopt;
    // Appends and pops each add one to `state`; appends add one to the length and pops take
    // one away. So state - length grows by two with each pop and by nothing else: the loop
    // pops its ready queue only to run what it took (BaseEventLoop._run_once).
    const python::ContainerLayout& c = impl.layout.containers;
    std::int64_t length = 0;
    std::uint64_t state = 0;
    RemoteMemory::Piece pieces[] = {
        {known->second + static_cast<std::uint64_t>(c.var_size), &length, sizeof length},
        {known->second + static_cast<std::uint64_t>(c.deque_state), &state, sizeof state},
    };
    if (memory.read_scattered(pieces, 2) != 2 || length < 0) {
        impl.ready_queues.erase(known); // freed, or the loop closed: look again next time
        return std::nullopt;
    }
    return (state - static_cast<std::uint64_t>(length)) / 2;
}

std::vector<std::string> AsyncioTaskReader::loop_types(const RemoteMemory& memory,
                                                       const AsyncioLoopRef& loop) {
    std::vector<std::string> names;
    for (std::uint64_t type = impl_->containers.type_of(memory, loop.loop);
         type != 0 && names.size() < max_type_depth; type = impl_->containers.base_of(memory, type)) {
        const std::string& name = impl_->types.name(memory, type);
        if (name.empty())
            break;
        names.push_back(name);
    }
    return names;
}

} // namespace sampler

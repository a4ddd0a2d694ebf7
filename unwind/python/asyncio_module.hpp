#pragma once
// Where asyncio keeps its tasks in one interpreter: names of the `asyncio.tasks` module, which
// the C `_asyncio` module shares (3.8-3.13 have no symbol for them). Tasks are registered
// weakly, in a WeakSet (`_all_tasks`; `_scheduled_tasks` from 3.12, plus the `_eager_tasks` set
// for tasks running their first step eagerly), so a finished task stays listed until it is
// freed. The running task of each loop is in `_current_tasks`, a dict {loop: task}.

#include "asyncio_layout.hpp"
#include "container_reader.hpp"
#include "module_globals.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sampler::python {

inline constexpr std::size_t max_tasks = 1 << 16; // tasks looked at per interpreter

struct AsyncioGlobals {
    std::uint64_t c_task_type = 0;           // _asyncio.Task (asyncio.tasks._CTask); 0 without it
    std::uint64_t python_task_type = 0;      // asyncio.tasks._PyTask
    std::uint64_t gathering_future_type = 0; // asyncio.tasks._GatheringFuture
    std::uint64_t all_tasks = 0;             // the WeakSet
    std::uint64_t eager_tasks = 0;           // a set (3.12+)
    std::uint64_t current_tasks = 0;         // a dict {loop: task}
};

// The registered tasks, bounded by max_tasks (`truncated` says more were there).
struct TaskList {
    std::vector<std::uint64_t> tasks; // the objects, not yet checked to be tasks
    bool truncated = false;
};

class AsyncioModule {
  public:
    AsyncioModule(const AsyncioLayout& layout, ModuleGlobals& globals, const ContainerReader& containers)
        : layout_(layout), globals_(globals), containers_(containers) {}

    // The asyncio globals of the interpreter whose sys.modules is `modules`; nullopt, with the
    // reason, when asyncio is not imported or its names cannot be read.
    std::optional<AsyncioGlobals> find(const RemoteMemory& memory, std::uint64_t modules,
                                       std::string& why_not);
    // Every object in the task sets (weak references followed; dead ones left out).
    TaskList registered_tasks(const RemoteMemory& memory, const AsyncioGlobals& globals);
    // {loop: task} of _current_tasks; empty when unreadable.
    std::vector<DictEntry> current_tasks(const RemoteMemory& memory, const AsyncioGlobals& globals);

  private:
    void add_set(const RemoteMemory& memory, std::uint64_t set, bool weak, TaskList& list);

    const AsyncioLayout& layout_;
    ModuleGlobals& globals_;
    const ContainerReader& containers_;
    KeyCache keys_; // the WeakSet's `data` attribute
};

} // namespace sampler::python

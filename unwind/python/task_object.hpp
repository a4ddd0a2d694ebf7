#pragma once
// One asyncio task read out of target memory: the C `_asyncio.Task` from its struct, the
// pure-Python Task (`asyncio.tasks._PyTask`) from its attributes, and subclasses of either. Also
// the objects that tell who awaits a task: the future of a `gather` (its `_children`), and the
// TaskGroup whose bound `_on_task_done` is one of a task's done callbacks (its `_parent_task`).

#include "asyncio_module.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sampler::python {

inline constexpr std::size_t max_callbacks = 64; // done callbacks looked at per task

enum class TaskKind { none, c_task, python_task };

struct TaskFields {
    TaskKind kind = TaskKind::none;
    std::uint64_t loop = 0;
    std::uint64_t coro = 0;       // 0 once a finished task dropped it (3.12+)
    std::uint64_t fut_waiter = 0; // the future the task waits on; 0 when none
    std::uint64_t name = 0;       // a str, or an int N meaning "Task-N" (the C Task, 3.12+)
    int state = future_pending;
    std::vector<std::uint64_t> callbacks; // the done callbacks' callables
};

class TaskObjects {
  public:
    TaskObjects(const AsyncioLayout& layout, ModuleGlobals& globals, const ContainerReader& containers,
                TypeNames& types)
        : layout_(layout), globals_(globals), containers_(containers), types_(types) {}

    // Whether `object` is a task of either kind (its type, or a base of it, is one of the Task
    // types `globals` names); remembered by type.
    TaskKind kind(const RemoteMemory& memory, std::uint64_t object, const AsyncioGlobals& globals);
    // The loop the task belongs to (one read for the C Task); 0 when unreadable.
    std::uint64_t loop_of(const RemoteMemory& memory, std::uint64_t task, TaskKind kind);
    std::optional<TaskFields> read(const RemoteMemory& memory, std::uint64_t task, TaskKind kind);
    // The same without the done callbacks (left empty): fewer reads, for a look per sample.
    std::optional<TaskFields> read_head(const RemoteMemory& memory, std::uint64_t task, TaskKind kind);
    // The task's name; nullopt when unreadable.
    std::optional<std::string> name(const RemoteMemory& memory, std::uint64_t name_object);

    // When `future` is the future of a gather: its children (tasks, or the futures of nested
    // gathers); nullopt otherwise.
    std::optional<std::vector<std::uint64_t>>
    gather_children(const RemoteMemory& memory, std::uint64_t future, const AsyncioGlobals& globals);
    // When `callback` is a method bound to a TaskGroup (`_on_task_done`): the group's parent
    // task; 0 otherwise.
    std::uint64_t task_group_parent(const RemoteMemory& memory, std::uint64_t callback);

    // An attribute of a Python object, from its instance dict.
    std::optional<std::uint64_t> attribute(const RemoteMemory& memory, std::uint64_t object,
                                           std::string_view name);

    void forget() { kinds_.clear(); }

  private:
    std::optional<TaskFields> read_fields(const RemoteMemory& memory, std::uint64_t task, TaskKind kind,
                                          bool callbacks);
    std::optional<TaskFields> read_c_task(const RemoteMemory& memory, std::uint64_t task, bool callbacks);
    std::optional<TaskFields> read_python_task(const RemoteMemory& memory, std::uint64_t task,
                                               bool callbacks);
    void add_callbacks(const RemoteMemory& memory, std::uint64_t list, TaskFields& fields);

    const AsyncioLayout& layout_;
    ModuleGlobals& globals_;
    const ContainerReader& containers_;
    TypeNames& types_;
    // type -> kind, for the Task types of kinds_for_ (another interpreter's differ)
    std::unordered_map<std::uint64_t, TaskKind> kinds_;
    std::pair<std::uint64_t, std::uint64_t> kinds_for_{0, 0};
    KeyCache keys_; // attribute names
};

} // namespace sampler::python

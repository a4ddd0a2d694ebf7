#include "task_object.hpp"

#include "instance_dict.hpp"
#include "struct_bytes.hpp"

namespace sampler::python {
namespace {

constexpr std::size_t max_cached_types = 4096;

std::uint64_t at(std::uint64_t base, int offset) {
    return base + static_cast<std::uint64_t>(offset);
}

} // namespace

TaskKind TaskObjects::kind(const RemoteMemory& memory, std::uint64_t object, const AsyncioGlobals& globals) {
    const std::pair<std::uint64_t, std::uint64_t> types{globals.c_task_type, globals.python_task_type};
    if (kinds_for_ != types || kinds_.size() >= max_cached_types) {
        kinds_.clear();
        kinds_for_ = types;
    }
    const std::uint64_t type = containers_.type_of(memory, object);
    if (!plausible_object(type))
        return TaskKind::none;
    if (auto found = kinds_.find(type); found != kinds_.end())
        return found->second;
    TaskKind kind = TaskKind::none;
    std::uint64_t base = type;
    for (int depth = 0; depth < max_type_depth && plausible_object(base); ++depth) {
        if (base == globals.c_task_type) {
            kind = TaskKind::c_task;
            break;
        }
        if (base == globals.python_task_type) {
            kind = TaskKind::python_task;
            break;
        }
        base = containers_.base_of(memory, base);
    }
    kinds_[type] = kind;
    return kind;
}

std::optional<std::uint64_t> TaskObjects::attribute(const RemoteMemory& memory, std::uint64_t object,
                                                    std::string_view name) {
    auto attributes = instance_attributes(memory, globals_.dicts(), globals_.objects().layout(), object);
    return attributes ? globals_.lookup(memory, *attributes, name, &keys_) : std::nullopt;
}

std::uint64_t TaskObjects::loop_of(const RemoteMemory& memory, std::uint64_t task, TaskKind kind) {
    std::uint64_t loop = 0;
    if (kind == TaskKind::c_task)
        return memory.read_value(at(task, layout_.future.loop), loop) ? loop : 0;
    if (kind == TaskKind::python_task)
        return attribute(memory, task, "_loop").value_or(0);
    return 0;
}

std::optional<TaskFields> TaskObjects::read(const RemoteMemory& memory, std::uint64_t task, TaskKind kind) {
    return read_fields(memory, task, kind, true);
}

std::optional<TaskFields> TaskObjects::read_head(const RemoteMemory& memory, std::uint64_t task,
                                                 TaskKind kind) {
    return read_fields(memory, task, kind, false);
}

std::optional<TaskFields> TaskObjects::read_fields(const RemoteMemory& memory, std::uint64_t task,
                                                   TaskKind kind, bool callbacks) {
    if (kind == TaskKind::c_task)
        return read_c_task(memory, task, callbacks);
    if (kind == TaskKind::python_task)
        return read_python_task(memory, task, callbacks);
    return std::nullopt;
}

void TaskObjects::add_callbacks(const RemoteMemory& memory, std::uint64_t list, TaskFields& fields) {
    // A list of (callback, context) tuples.
    auto entries = plausible_object(list) ? containers_.list_items(memory, list) : std::nullopt;
    if (!entries)
        return;
    for (std::uint64_t entry : *entries) {
        if (fields.callbacks.size() >= max_callbacks)
            return;
        auto pair = containers_.tuple_items(memory, entry);
        if (pair && !pair->empty() && plausible_object(pair->front()))
            fields.callbacks.push_back(pair->front());
    }
}

std::optional<TaskFields> TaskObjects::read_c_task(const RemoteMemory& memory, std::uint64_t task,
                                                   bool callbacks) {
    const FutureLayout& f = layout_.future;
    StructBytes bytes;
    if (!bytes.read(memory, task,
                    FieldRange()
                        .add(f.loop, 8)
                        .add(f.callback0, 8)
                        .add(f.callbacks, 8)
                        .add(f.state, 4)
                        .add(f.fut_waiter, 8)
                        .add(f.coro, 8)
                        .add(f.name, 8)))
        return std::nullopt;
    TaskFields fields;
    fields.kind = TaskKind::c_task;
    fields.loop = bytes.u64(f.loop);
    fields.coro = bytes.u64(f.coro);
    fields.fut_waiter = bytes.u64(f.fut_waiter);
    fields.name = bytes.u64(f.name);
    fields.state = bytes.i32(f.state);
    if (fields.state < future_pending || fields.state > future_finished)
        return std::nullopt;
    if (!callbacks)
        return fields;
    if (const std::uint64_t first = bytes.u64(f.callback0); plausible_object(first))
        fields.callbacks.push_back(first);
    add_callbacks(memory, bytes.u64(f.callbacks), fields);
    return fields;
}

std::optional<TaskFields> TaskObjects::read_python_task(const RemoteMemory& memory, std::uint64_t task,
                                                        bool callbacks) {
    auto attributes = instance_attributes(memory, globals_.dicts(), globals_.objects().layout(), task);
    if (!attributes)
        return std::nullopt;
    auto get = [&](std::string_view name) {
        return globals_.lookup(memory, *attributes, name, &keys_).value_or(0);
    };
    TaskFields fields;
    fields.kind = TaskKind::python_task;
    fields.loop = get("_loop");
    fields.coro = get("_coro");
    fields.fut_waiter = get("_fut_waiter");
    fields.name = get("_name");
    // `_state` is a class attribute, 'PENDING', until the task's state first changes.
    if (const std::uint64_t state = get("_state")) {
        auto text = globals_.objects().read_string(memory, state);
        if (text == "CANCELLED")
            fields.state = future_cancelled;
        else if (text == "FINISHED")
            fields.state = future_finished;
        else if (text != "PENDING")
            return std::nullopt;
    }
    if (callbacks)
        add_callbacks(memory, get("_callbacks"), fields);
    return fields;
}

std::optional<std::string> TaskObjects::name(const RemoteMemory& memory, std::uint64_t name_object) {
    if (auto text = globals_.objects().read_string(memory, name_object))
        return text;
    // The C Task of 3.12+ names itself lazily: until asked, its name is the number N of "Task-N".
    if (types_.name(memory, containers_.type_of(memory, name_object)) == "int")
        if (auto number = containers_.small_int(memory, name_object))
            return "Task-" + std::to_string(*number);
    return std::nullopt;
}

std::optional<std::vector<std::uint64_t>> TaskObjects::gather_children(const RemoteMemory& memory,
                                                                       std::uint64_t future,
                                                                       const AsyncioGlobals& globals) {
    if (globals.gathering_future_type == 0 || !plausible_object(future) ||
        containers_.type_of(memory, future) != globals.gathering_future_type)
        return std::nullopt;
    auto children = attribute(memory, future, "_children");
    return children ? containers_.list_items(memory, *children) : std::nullopt;
}

std::uint64_t TaskObjects::task_group_parent(const RemoteMemory& memory, std::uint64_t callback) {
    if (types_.name(memory, containers_.type_of(memory, callback)) != "method")
        return 0;
    // A TaskGroup (or a subclass of it); the caller checks that the parent is a task it knows.
    const std::uint64_t group = containers_.method_self(memory, callback);
    return plausible_object(group) ? attribute(memory, group, "_parent_task").value_or(0) : 0;
}

} // namespace sampler::python

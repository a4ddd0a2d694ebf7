#include "asyncio_module.hpp"

#include "instance_dict.hpp"

namespace sampler::python {

std::optional<AsyncioGlobals> AsyncioModule::find(const RemoteMemory& memory, std::uint64_t modules,
                                                  std::string& why_not) {
    auto dict = modules ? globals_.module_dict(memory, modules, "asyncio.tasks") : std::nullopt;
    if (!dict) {
        why_not = modules ? "asyncio is not imported" : "sys.modules cannot be read";
        return std::nullopt;
    }
    auto names = globals_.dicts().entries(memory, *dict);
    if (!names) {
        why_not = "the globals of asyncio.tasks cannot be read";
        return std::nullopt;
    }
    auto get = [&](std::string_view name) {
        return globals_.lookup(memory, *names, name, &keys_).value_or(0);
    };
    AsyncioGlobals found;
    found.c_task_type = get("_CTask");
    found.python_task_type = get("_PyTask");
    found.gathering_future_type = get("_GatheringFuture");
    found.all_tasks = get(layout_.scheduled_and_eager ? "_scheduled_tasks" : "_all_tasks");
    if (layout_.scheduled_and_eager)
        found.eager_tasks = get("_eager_tasks");
    found.current_tasks = get("_current_tasks");
    if (found.all_tasks == 0 || !globals_.is_dict(memory, found.current_tasks) ||
        (found.c_task_type == 0 && found.python_task_type == 0)) {
        why_not = "asyncio.tasks lacks the names tasks are kept in (_all_tasks or _scheduled_tasks, "
                  "_current_tasks, _CTask or _PyTask)";
        return std::nullopt;
    }
    return found;
}

void AsyncioModule::add_set(const RemoteMemory& memory, std::uint64_t set, bool weak, TaskList& list) {
    auto items = containers_.set_items(memory, set);
    if (!items) {
        list.truncated = true;
        return;
    }
    for (std::uint64_t item : *items) {
        if (list.tasks.size() >= max_tasks) {
            list.truncated = true;
            return;
        }
        const std::uint64_t task = weak ? containers_.weakref_target(memory, item) : item;
        if (plausible_object(task))
            list.tasks.push_back(task);
    }
}

TaskList AsyncioModule::registered_tasks(const RemoteMemory& memory, const AsyncioGlobals& globals) {
    TaskList list;
    // A WeakSet keeps its weak references in a set, its attribute `data`.
    auto attributes =
        instance_attributes(memory, globals_.dicts(), globals_.objects().layout(), globals.all_tasks);
    auto data = attributes ? globals_.lookup(memory, *attributes, "data", &keys_) : std::nullopt;
    if (data)
        add_set(memory, *data, true, list);
    else
        list.truncated = true;
    if (globals.eager_tasks != 0)
        add_set(memory, globals.eager_tasks, false, list);
    return list;
}

std::vector<DictEntry> AsyncioModule::current_tasks(const RemoteMemory& memory,
                                                    const AsyncioGlobals& globals) {
    return globals_.dicts().entries(memory, globals.current_tasks).value_or(std::vector<DictEntry>{});
}

} // namespace sampler::python

#include "tasks_output.hpp"

#include "sampler/frame.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace sampler {
namespace {

constexpr std::size_t max_tree_depth = 256; // deeper awaiters are listed as roots of their own

const char* state_text(TaskState state) {
    switch (state) {
    case TaskState::pending:
        return "pending";
    case TaskState::running:
        return "running";
    case TaskState::done:
        return "done";
    }
    return "pending";
}

const char* via_text(AwaitVia via) {
    switch (via) {
    case AwaitVia::task:
        return "await";
    case AwaitVia::gather:
        return "gather";
    case AwaitVia::task_group:
        return "taskgroup";
    }
    return "await";
}

std::string frame_label(const PythonFrame& python) {
    Frame frame;
    frame.kind = FrameKind::python;
    frame.name = python.name;
    frame.file = python.file;
    frame.line = python.line;
    return dump_label(frame);
}

std::string hex(std::uint64_t value) {
    std::ostringstream out;
    out << "0x" << std::hex << value;
    return out.str();
}

// The tasks of a loop in the order they are shown: by name, then address.
std::vector<const AsyncioTask*> sorted_tasks(const AsyncioLoop& loop) {
    std::vector<const AsyncioTask*> tasks;
    for (const AsyncioTask& task : loop.tasks)
        tasks.push_back(&task);
    std::sort(tasks.begin(), tasks.end(), [](const AsyncioTask* a, const AsyncioTask* b) {
        if (a->name != b->name)
            return natural_less(a->name, b->name);
        return a->address < b->address;
    });
    return tasks;
}

// Loops in the order they are shown: by the id of the thread running them, those no thread runs last.
std::vector<const LoopTasks*> sorted_loops(const TasksDump& dump) {
    std::vector<const LoopTasks*> loops;
    for (const LoopTasks& entry : dump.loops)
        loops.push_back(&entry);
    std::sort(loops.begin(), loops.end(), [](const LoopTasks* a, const LoopTasks* b) {
        const AsyncioLoopRef& x = a->loop.ref;
        const AsyncioLoopRef& y = b->loop.ref;
        return std::tuple(x.tid == 0, x.tid, x.loop) < std::tuple(y.tid == 0, y.tid, y.loop);
    });
    return loops;
}

// Who awaits whom, drawn from the tasks no other task awaits. A task awaited by several is drawn
// in full where it is met first, and named with "(see above)" where it is met again; tasks that
// only await each other in a cycle are drawn from the first of them by name.
class TaskTree {
  public:
    TaskTree(const AsyncioLoop& loop, std::ostream& out) : out_(out), tasks_(sorted_tasks(loop)) {
        std::unordered_set<std::uint64_t> known;
        for (const AsyncioTask* task : tasks_)
            known.insert(task->address);
        // Children in the shown order: built by walking the sorted tasks.
        for (const AsyncioTask* task : tasks_)
            for (const TaskAwaiter& awaiter : task->awaited_by)
                if (known.contains(awaiter.task)) {
                    children_[awaiter.task].push_back({task, awaiter.via});
                    awaited_.insert(task->address);
                }
    }

    void draw() {
        for (const AsyncioTask* task : tasks_)
            if (!awaited_.contains(task->address))
                node(*task, nullptr, "", "", 0);
        for (const AsyncioTask* task : tasks_)
            if (!drawn_.contains(task->address))
                node(*task, nullptr, "", "", 0);
    }

  private:
    struct Child {
        const AsyncioTask* task;
        AwaitVia via;
    };

    static std::string label(const AsyncioTask& task, const AwaitVia* via) {
        std::string text =
            task.name + " [" + state_text(task.state) + (task.cancelled ? ", cancelled]" : "]");
        if (via)
            text += std::string(" via ") + via_text(*via);
        return text;
    }

    void node(const AsyncioTask& task, const AwaitVia* via, const std::string& lead, const std::string& rest,
              std::size_t depth) {
        out_ << lead << label(task, via) << "\n";
        drawn_.insert(task.address);
        const std::vector<Child>& children = children_[task.address];
        const std::string bar = rest + (children.empty() ? "    " : "│   ");
        for (const PythonFrame& frame : task.coroutines)
            out_ << bar << frame_label(frame) << "\n";
        if (task.chain_truncated)
            out_ << bar << "... (the chain is cut here: it could not be read further)\n";
        for (std::size_t i = 0; i < children.size(); ++i) {
            const bool last = i + 1 == children.size();
            const Child& child = children[i];
            const std::string child_lead = rest + (last ? "└── " : "├── ");
            if (drawn_.contains(child.task->address) || depth + 1 >= max_tree_depth)
                out_ << child_lead << label(*child.task, &child.via)
                     << (drawn_.contains(child.task->address) ? " (see above)\n" : " (see below)\n");
            else
                node(*child.task, &child.via, child_lead, rest + (last ? "    " : "│   "), depth + 1);
        }
    }

    std::ostream& out_;
    std::vector<const AsyncioTask*> tasks_;
    std::unordered_map<std::uint64_t, std::vector<Child>> children_;
    std::unordered_set<std::uint64_t> awaited_;
    std::unordered_set<std::uint64_t> drawn_;
};

std::string count_text(std::size_t count) {
    return std::to_string(count) + (count == 1 ? " task" : " tasks");
}

void loop_header(std::ostream& out, const LoopTasks& entry) {
    const AsyncioLoop& loop = entry.loop;
    const AsyncioLoopRef& ref = loop.ref;
    if (ref.tid != 0)
        out << "Thread " << ref.tid << " (" << entry.thread_name << "), event loop " << hex(ref.loop);
    else if (ref.thread_ident != 0)
        out << "Event loop " << hex(ref.loop) << " (running, its thread not found)";
    else
        out << "Event loop " << hex(ref.loop) << " (not running)";
    out << ": " << count_text(loop.tasks.size()) << "\n";
    if (ref.thread_ident != 0 && !entry.stopped)
        out << "(read while its thread ran: the tree may be torn)\n";
    if (loop.truncated)
        out << "(not every task could be read)\n";
    if (loop.errors != 0)
        out << "(" << loop.errors << " objects could not be read)\n";
}

nlohmann::json task_json(const AsyncioTask& task,
                         const std::unordered_map<std::uint64_t, std::string>& names) {
    nlohmann::json coroutines = nlohmann::json::array();
    for (const PythonFrame& frame : task.coroutines) {
        nlohmann::json entry{{"name", frame.name}, {"file", frame.file}};
        if (frame.line != 0)
            entry["line"] = frame.line;
        coroutines.push_back(std::move(entry));
    }
    nlohmann::json awaited_by = nlohmann::json::array();
    for (const TaskAwaiter& awaiter : task.awaited_by) {
        auto name = names.find(awaiter.task);
        if (name != names.end())
            awaited_by.push_back(
                {{"id", awaiter.task}, {"name", name->second}, {"via", via_text(awaiter.via)}});
    }
    return {{"id", task.address},
            {"name", task.name},
            {"state", state_text(task.state)},
            {"cancelled", task.cancelled},
            {"python_task", task.python_task},
            {"coroutines", std::move(coroutines)},
            {"chain_truncated", task.chain_truncated},
            {"awaited_by", std::move(awaited_by)}};
}

nlohmann::json loop_json(const LoopTasks& entry) {
    const AsyncioLoop& loop = entry.loop;
    std::unordered_map<std::uint64_t, std::string> names;
    for (const AsyncioTask& task : loop.tasks)
        names.emplace(task.address, task.name);
    nlohmann::json tasks = nlohmann::json::array();
    for (const AsyncioTask* task : sorted_tasks(loop))
        tasks.push_back(task_json(*task, names));
    nlohmann::json json{{"loop", loop.ref.loop},       {"running", loop.ref.thread_ident != 0},
                        {"tid", loop.ref.tid},         {"stopped", entry.stopped},
                        {"truncated", loop.truncated}, {"errors", loop.errors},
                        {"tasks", std::move(tasks)}};
    if (loop.ref.tid != 0)
        json["thread"] = entry.thread_name;
    json["running_task"] = loop.running_task != 0 ? nlohmann::json(loop.running_task) : nlohmann::json();
    return json;
}

} // namespace

bool natural_less(const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            std::size_t end_a = i, end_b = j;
            while (end_a < a.size() && digit(a[end_a]))
                ++end_a;
            while (end_b < b.size() && digit(b[end_b]))
                ++end_b;
            // Compare the runs as numbers: leading zeros aside, the longer run is the larger.
            std::string_view run_a(a.data() + i, end_a - i), run_b(b.data() + j, end_b - j);
            run_a.remove_prefix(std::min(run_a.find_first_not_of('0'), run_a.size()));
            run_b.remove_prefix(std::min(run_b.find_first_not_of('0'), run_b.size()));
            if (run_a.size() != run_b.size())
                return run_a.size() < run_b.size();
            if (run_a != run_b)
                return run_a < run_b;
            i = end_a;
            j = end_b;
        } else {
            if (a[i] != b[j])
                return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    if ((a.size() - i) != (b.size() - j))
        return a.size() - i < b.size() - j;
    return a < b; // same under this order (say, "Task-01" and "Task-1"): any fixed order
}

std::string tasks_text(const TasksDump& dump) {
    std::ostringstream out;
    out << "Process " << dump.pid << ": " << dump.command_line << "\n";
    out << "Python " << dump.python_version << "\n";
    if (dump.loops.empty())
        out << "\nNo asyncio tasks" << (dump.why_none.empty() ? "" : ": " + dump.why_none) << "\n";
    for (const LoopTasks* entry : sorted_loops(dump)) {
        out << "\n";
        loop_header(out, *entry);
        TaskTree(entry->loop, out).draw();
    }
    return out.str();
}

std::string tasks_json(const TasksDump& dump) {
    nlohmann::json loops = nlohmann::json::array();
    for (const LoopTasks* entry : sorted_loops(dump))
        loops.push_back(loop_json(*entry));
    nlohmann::json document{{"pid", dump.pid},
                            {"command_line", dump.command_line},
                            {"python_version", dump.python_version},
                            {"loops", std::move(loops)}};
    if (dump.loops.empty() && !dump.why_none.empty())
        document["why_none"] = dump.why_none;
    // Replace, not throw, on invalid UTF-8 read out of a target.
    return document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace sampler

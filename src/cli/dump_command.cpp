#include "commands.hpp"

#include "output_file.hpp"
#include "proc_threads.hpp"
#include "process_sampler.hpp"
#include "target.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

namespace sampler {
namespace {

const char* state_text(char state) {
    switch (state) {
    case 'R':
        return "running";
    case 'S':
        return "sleeping";
    case 'D':
        return "disk sleep";
    case 'I':
        return "idle";
    case 'T':
        return "stopped";
    case 't':
        return "traced";
    case 'Z':
        return "zombie";
    default:
        return "unknown";
    }
}

// Python targets list their Python threads (and, with --native, every thread); others all.
bool shown(const SampledStack& stack, const ProcessSampler& sampler, const DumpOptions& options) {
    return !sampler.is_python() || stack.python || options.target.stacks.native;
}

std::string thread_header(const SampledStack& stack, const ProcessSampler& sampler) {
    std::string header = "Thread " + std::to_string(stack.thread.tid) + " (" + stack.thread.name + ") [";
    if (sampler.is_python()) {
        header += stack.thread.running() ? "active]" : "idle]";
        if (stack.thread.holds_gil)
            header += " [gil]";
    } else {
        header += std::string(state_text(stack.thread.state)) + "]";
    }
    return header;
}

// A stack that ends at the depth limit was cut on purpose; one that ends early otherwise was not.
const char* end_note(const SampledStack& stack) {
    if (stack.depth_limit)
        return "    ... (outer frames not shown: the depth limit was reached; see --max-depth)\n";
    return "    ... (the stack ends here: unwinding stopped early)\n";
}

void print_text(std::ostream& out, int pid, const ProcessSampler& sampler,
                const std::vector<SampledStack>& stacks, const DumpOptions& options) {
    out << "Process " << pid << ": " << process_command_line(pid) << "\n";
    if (sampler.is_python())
        out << "Python " << sampler.python_version() << "\n";
    for (const SampledStack& stack : stacks) {
        if (!shown(stack, sampler, options))
            continue;
        out << "\n" << thread_header(stack, sampler) << "\n";
        if (!stack.captured) {
            out << "    (could not stop this thread to read its stack)\n";
            continue;
        }
        for (const Frame& frame : stack.frames)
            out << "    " << dump_label(frame) << "\n";
        if (stack.truncated)
            out << end_note(stack);
    }
}

nlohmann::json process_json(int pid, const ProcessSampler& sampler, const std::vector<SampledStack>& stacks,
                            const DumpOptions& options) {
    nlohmann::json threads = nlohmann::json::array();
    for (const SampledStack& stack : stacks) {
        if (!shown(stack, sampler, options))
            continue;
        nlohmann::json frames = nlohmann::json::array();
        for (const Frame& frame : stack.frames) {
            nlohmann::json entry{
                {"name", frame.name}, {"kind", frame_kind_name(frame.kind)}, {"inlined", frame.inlined}};
            if (!frame.file.empty())
                entry["file"] = frame.file;
            if (frame.line != 0)
                entry["line"] = frame.line;
            if (!frame.module.empty())
                entry["module"] = frame.module;
            if (frame.kind != FrameKind::python)
                entry["address"] = frame.address;
            frames.push_back(std::move(entry));
        }
        threads.push_back({{"tid", stack.thread.tid},
                           {"name", stack.thread.name},
                           {"state", state_text(stack.thread.state)},
                           {"active", stack.thread.running()},
                           {"gil", stack.thread.holds_gil},
                           {"captured", stack.captured},
                           {"truncated", stack.truncated},
                           {"depth_limit", stack.depth_limit},
                           {"frames", std::move(frames)}});
    }
    nlohmann::json document{
        {"pid", pid}, {"command_line", process_command_line(pid)}, {"threads", std::move(threads)}};
    if (sampler.is_python())
        document["python_version"] = sampler.python_version();
    return document;
}

} // namespace

int run_dump(const DumpOptions& options) {
    if (options.tasks)
        return run_dump_tasks(options);
    const std::vector<int> pids = distinct_pids(options.target.pids);
    check_targets(pids);
    // All of it at once, after every thread runs again, so that a failed write is reported.
    std::ostringstream text;
    // One process: one JSON object, as ever; several (--pid A,B): an array of them, in that order.
    nlohmann::json documents = nlohmann::json::array();
    for (int pid : pids) {
        ProcessSampler sampler(pid, options.target.stacks);
        SessionReport report;
        std::vector<SampledStack> stacks = sampler.sample(true, report);
        if (options.json)
            documents.push_back(process_json(pid, sampler, stacks, options));
        else
            print_text(text << (pid == pids.front() ? "" : "\n"), pid, sampler, stacks, options);
    }
    // Replace, not throw, on invalid UTF-8 read out of a target.
    if (options.json)
        text << (pids.size() == 1 ? documents[0] : documents)
                    .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
             << "\n";
    write_output_file("-", text.str());
    return 0;
}

} // namespace sampler

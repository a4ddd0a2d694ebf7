#include "chrome_trace_writer.hpp"

#include "sampler/frame.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sampler {
namespace {

using json = nlohmann::json;

constexpr double default_rate_hz = 100;
constexpr double idle_gap_intervals = 2.5;

// Root labels (thread, process, task) share one category: they name who ran, not code.
const char* category_of(FrameKind kind) {
    return is_root_label(kind) ? "pseudo" : frame_kind_name(kind);
}

struct ThreadState {
    std::vector<FrameId> open; // frames begun and not yet ended, outermost first
    std::uint64_t last_micros = 0;
    bool seen = false;
};

class TraceBuilder {
  public:
    TraceBuilder(const Profile& profile, json& events) : profile_(profile), events_(events) {}

    void event(const char* phase, FrameId frame, std::uint64_t micros, const ThreadRecord& thread) {
        const Frame& f = profile_.frames.at(frame);
        events_.push_back({{"name", aggregate_label(f)},
                           {"cat", category_of(f.kind)},
                           {"ph", phase},
                           {"ts", micros},
                           {"pid", thread.pid},
                           {"tid", thread.tid}});
    }

    // Ends open frames, innermost first, until `keep` remain.
    void close_to(ThreadState& state, std::size_t keep, std::uint64_t micros, const ThreadRecord& thread) {
        while (state.open.size() > keep) {
            event("E", state.open.back(), micros, thread);
            state.open.pop_back();
        }
    }

  private:
    const Profile& profile_;
    json& events_;
};

} // namespace

std::string render_chrome_trace(const Profile& profile, const std::string& exporter) {
    json events = json::array();
    std::vector<int> named_processes;
    for (const ThreadRecord& thread : profile.threads) {
        if (std::find(named_processes.begin(), named_processes.end(), thread.pid) == named_processes.end()) {
            named_processes.push_back(thread.pid);
            const std::string name = thread.pid == profile.info.pid && !profile.info.command_line.empty()
                                         ? profile.info.command_line
                                         : "process " + std::to_string(thread.pid);
            events.push_back({{"name", "process_name"},
                              {"ph", "M"},
                              {"pid", thread.pid},
                              {"tid", thread.pid},
                              {"args", {{"name", name}}}});
        }
        events.push_back({{"name", "thread_name"},
                          {"ph", "M"},
                          {"pid", thread.pid},
                          {"tid", thread.tid},
                          {"args", {{"name", thread.name}}}});
    }

    const double rate = profile.info.requested_rate_hz > 0 ? profile.info.requested_rate_hz : default_rate_hz;
    const auto interval = static_cast<std::uint64_t>(1e6 / rate);
    const auto idle_gap = static_cast<std::uint64_t>(idle_gap_intervals * 1e6 / rate);
    TraceBuilder builder(profile, events);
    std::vector<ThreadState> states(profile.threads.size());
    std::uint64_t now = 0;
    for (const TimelineSample& sample : profile.timeline) {
        now += sample.micros_since_previous;
        if (sample.thread >= states.size())
            continue;
        ThreadState& state = states[sample.thread];
        const ThreadRecord& thread = profile.threads[sample.thread];
        if (state.seen && now - state.last_micros > idle_gap)
            builder.close_to(state, 0, state.last_micros + interval, thread);
        const std::vector<FrameId> stack = profile.tree.stack_of(sample.leaf);
        const auto common = static_cast<std::size_t>(
            std::mismatch(state.open.begin(), state.open.end(), stack.begin(), stack.end()).first -
            state.open.begin());
        builder.close_to(state, common, now, thread);
        for (std::size_t depth = common; depth < stack.size(); ++depth) {
            builder.event("B", stack[depth], now, thread);
            state.open.push_back(stack[depth]);
        }
        state.last_micros = now;
        state.seen = true;
    }
    for (std::size_t index = 0; index < states.size(); ++index)
        builder.close_to(states[index], 0, states[index].last_micros + interval, profile.threads[index]);

    json document{{"traceEvents", std::move(events)},
                  {"displayTimeUnit", "ms"},
                  {"otherData", {{"exporter", exporter}}}};
    return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace sampler

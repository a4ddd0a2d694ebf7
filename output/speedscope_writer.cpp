#include "speedscope_writer.hpp"

#include "sampler/frame.hpp"

#include <nlohmann/json.hpp>

namespace sampler {
namespace {

using json = nlohmann::json;

constexpr double default_rate_hz = 100;

json frame_json(const Frame& frame) {
    json out{{"name", frame.name.empty() ? aggregate_label(frame) : frame.name}};
    if (!frame.file.empty())
        out["file"] = frame.file;
    if (frame.line != 0)
        out["line"] = frame.line;
    return out;
}

json sampled_profile(const std::string& name, double end_seconds) {
    return {{"type", "sampled"},       {"name", name},
            {"unit", "seconds"},       {"startValue", 0},
            {"endValue", end_seconds}, {"samples", json::array()},
            {"weights", json::array()}};
}

std::string thread_label(const ThreadRecord& thread) {
    return "thread " + std::to_string(thread.tid) + " (" + thread.name + ")";
}

} // namespace

std::string render_speedscope(const Profile& profile, const std::string& exporter) {
    json frames = json::array();
    for (FrameId id = 0; id < profile.frames.size(); ++id)
        frames.push_back(frame_json(profile.frames.at(id)));

    const double rate = profile.info.requested_rate_hz > 0 ? profile.info.requested_rate_hz : default_rate_hz;
    const double interval = 1.0 / rate;
    const double end = profile.info.duration_seconds;
    json profiles = json::array();

    if (!profile.timeline.empty()) {
        for (const ThreadRecord& thread : profile.threads)
            profiles.push_back(sampled_profile(thread_label(thread), end));
        for (const TimelineSample& sample : profile.timeline) {
            json& target = profiles.at(sample.thread);
            target["samples"].push_back(profile.tree.stack_of(sample.leaf));
            target["weights"].push_back(interval);
        }
        // Threads that were seen but contributed no timeline samples would be empty profiles.
        json kept = json::array();
        for (json& entry : profiles)
            if (!entry["samples"].empty())
                kept.push_back(std::move(entry));
        profiles = std::move(kept);
    } else {
        json all = sampled_profile("all threads", end);
        for (CallTree::NodeId id = 1; id < profile.tree.node_count(); ++id) {
            if (profile.tree.node(id).self == 0)
                continue;
            all["samples"].push_back(profile.tree.stack_of(id));
            all["weights"].push_back(static_cast<double>(profile.tree.node(id).self) * interval);
        }
        profiles.push_back(std::move(all));
    }

    std::string name = profile.info.title.empty() ? profile.info.command_line : profile.info.title;
    json document{{"$schema", "https://www.speedscope.app/file-format-schema.json"},
                  {"exporter", exporter},
                  {"name", name.empty() ? "sampler" : name},
                  {"activeProfileIndex", 0},
                  {"shared", {{"frames", std::move(frames)}}},
                  {"profiles", std::move(profiles)}};
    // Names come from the target: bytes that are not UTF-8 are replaced rather than fatal.
    return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace sampler

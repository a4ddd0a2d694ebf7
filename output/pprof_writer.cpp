#include "pprof_writer.hpp"

#include "gzip.hpp"
#include "protobuf_writer.hpp"
#include "sampler/frame.hpp"

#include <cmath>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sampler {
namespace {

// Field numbers from profile.proto.
namespace field {
constexpr std::uint32_t sample_type = 1, sample = 2, mapping = 3, location = 4, function = 5,
                        string_table = 6, time_nanos = 9, duration_nanos = 10, period_type = 11, period = 12;
constexpr std::uint32_t value_type_type = 1, value_type_unit = 2;
constexpr std::uint32_t sample_location_id = 1, sample_value = 2, sample_label = 3;
constexpr std::uint32_t label_key = 1, label_str = 2, label_num = 3;
constexpr std::uint32_t mapping_id = 1, mapping_memory_start = 2, mapping_memory_limit = 3,
                        mapping_filename = 5, mapping_build_id = 6, mapping_has_functions = 7,
                        mapping_has_filenames = 8, mapping_has_inline_frames = 10;
constexpr std::uint32_t location_id = 1, location_mapping_id = 2, location_address = 3, location_line = 4;
constexpr std::uint32_t line_function_id = 1, line_line = 2;
constexpr std::uint32_t function_id = 1, function_name = 2, function_system_name = 3, function_filename = 4,
                        function_start_line = 5;
} // namespace field

constexpr double default_rate_hz = 100;

// Collects the message's tables; every id is its index + 1, since 0 means "none" in pprof.
class PprofBuilder {
  public:
    explicit PprofBuilder(const Profile& profile) : profile_(profile) { intern(""); }

    std::uint64_t intern(const std::string& text) {
        auto [it, inserted] = strings_.try_emplace(text, string_table_.size());
        if (inserted)
            string_table_.push_back(text);
        return it->second;
    }

    // Location ids of a stack, leaf first, with inline frames grouped into one location.
    std::vector<std::uint64_t> locations_of(CallTree::NodeId leaf) {
        std::vector<std::uint64_t> ids;
        std::vector<FrameId> group;
        CallTree::NodeId node = leaf;
        while (node != CallTree::root_id) {
            group.clear();
            // The inlined frames first, then the frame they were inlined into.
            for (;;) {
                group.push_back(profile_.tree.node(node).frame);
                const bool inlined = profile_.inlined_into_parent.count(node) > 0;
                node = profile_.tree.parent(node);
                if (!inlined || node == CallTree::root_id)
                    break;
            }
            ids.push_back(location_id(group));
        }
        return ids;
    }

    void write_tables(protobuf::Writer& out) {
        for (const auto& [name, id] : mapping_ids_) {
            protobuf::Writer mapping;
            mapping.varint_field(field::mapping_id, id);
            if (const ModuleRecord* module = module_of(name)) {
                mapping.varint_field(field::mapping_memory_start, module->start);
                mapping.varint_field(field::mapping_memory_limit, module->end);
                mapping.varint_field(field::mapping_filename, intern(module->path));
                if (!module->build_id.empty())
                    mapping.varint_field(field::mapping_build_id, intern(module->build_id));
                // Symbolized already: consumers should not look the addresses up again.
                mapping.varint_field(field::mapping_has_functions, 1);
                mapping.varint_field(field::mapping_has_filenames, 1);
                mapping.varint_field(field::mapping_has_inline_frames, 1);
            } else {
                mapping.varint_field(field::mapping_filename, intern(name));
            }
            out.message_field(field::mapping, mapping);
        }
        for (const protobuf::Writer& location : locations_)
            out.message_field(field::location, location);
        for (const protobuf::Writer& function : functions_)
            out.message_field(field::function, function);
    }

    const std::vector<std::string>& string_table() const { return string_table_; }

  private:
    const Profile& profile_;
    std::vector<std::string> string_table_;
    std::unordered_map<std::string, std::uint64_t> strings_;
    std::map<std::vector<FrameId>, std::uint64_t> location_ids_;
    std::vector<protobuf::Writer> locations_;
    std::unordered_map<FrameId, std::uint64_t> function_ids_;
    std::vector<protobuf::Writer> functions_;
    std::map<std::string, std::uint64_t> mapping_ids_;

    std::uint64_t function_id(FrameId frame_id) {
        auto [it, inserted] = function_ids_.try_emplace(frame_id, functions_.size() + 1);
        if (inserted) {
            const Frame& frame = profile_.frames.at(frame_id);
            // Unnamed code keeps its module+0xOFF label as the name, as in the flame graph.
            const std::string name = frame.name.empty() ? aggregate_label(frame) : frame.name;
            protobuf::Writer function;
            function.varint_field(field::function_id, it->second);
            function.varint_field(field::function_name, intern(name));
            function.varint_field(field::function_system_name, intern(name));
            const std::string& file = frame.function_file.empty() ? frame.file : frame.function_file;
            if (!file.empty())
                function.varint_field(field::function_filename, intern(file));
            if (frame.function_line != 0)
                function.signed_field(field::function_start_line, frame.function_line);
            functions_.push_back(std::move(function));
        }
        return it->second;
    }

    const ModuleRecord* module_of(const std::string& name) const {
        auto found = profile_.modules.find(name);
        return found == profile_.modules.end() ? nullptr : &found->second;
    }

    // A frame's address in its mapping's terms: run-time (link-time plus the bias) when the
    // module is known, else its offset in the module (a mapping starting at 0). Native frames
    // are aggregated per function, so theirs is the function's entry; 0 when unknown.
    std::uint64_t address_in_mapping(const Frame& frame) const {
        const std::uint64_t offset = frame.name.empty() ? frame.module_offset : frame.function_offset;
        if (offset == 0)
            return 0;
        const ModuleRecord* module = module_of(frame.module);
        return module ? module->bias + offset : offset;
    }

    std::uint64_t mapping_id(const std::string& module) {
        auto [it, inserted] = mapping_ids_.try_emplace(module, mapping_ids_.size() + 1);
        return it->second;
    }

    std::uint64_t location_id(const std::vector<FrameId>& group) {
        auto [it, inserted] = location_ids_.try_emplace(group, locations_.size() + 1);
        if (!inserted)
            return it->second;
        protobuf::Writer location;
        location.varint_field(field::location_id, it->second);
        // The physical frame (last of the group) decides the mapping and address.
        const Frame& physical = profile_.frames.at(group.back());
        if (!physical.module.empty()) {
            location.varint_field(field::location_mapping_id, mapping_id(physical.module));
            if (std::uint64_t address = address_in_mapping(physical); address != 0)
                location.varint_field(field::location_address, address);
        } else if (physical.address != 0) {
            location.varint_field(field::location_address, physical.address);
        }
        for (FrameId frame_id : group) {
            protobuf::Writer line;
            line.varint_field(field::line_function_id, function_id(frame_id));
            if (profile_.frames.at(frame_id).line != 0)
                line.signed_field(field::line_line, profile_.frames.at(frame_id).line);
            location.message_field(field::location_line, line);
        }
        locations_.push_back(std::move(location));
        return it->second;
    }
};

protobuf::Writer value_type(PprofBuilder& builder, const std::string& type, const std::string& unit) {
    protobuf::Writer message;
    message.signed_field(field::value_type_type, static_cast<std::int64_t>(builder.intern(type)));
    message.signed_field(field::value_type_unit, static_cast<std::int64_t>(builder.intern(unit)));
    return message;
}

protobuf::Writer label(std::uint64_t key, std::uint64_t text, std::int64_t number) {
    protobuf::Writer message;
    message.signed_field(field::label_key, static_cast<std::int64_t>(key));
    if (text != 0)
        message.signed_field(field::label_str, static_cast<std::int64_t>(text));
    else
        message.signed_field(field::label_num, number);
    return message;
}

} // namespace

std::string encode_pprof(const Profile& profile) {
    PprofBuilder builder(profile);
    protobuf::Writer out;
    out.message_field(field::sample_type, value_type(builder, "samples", "count"));
    out.message_field(field::sample_type, value_type(builder, "cpu", "nanoseconds"));

    const double rate = profile.info.requested_rate_hz > 0 ? profile.info.requested_rate_hz : default_rate_hz;
    const auto period = static_cast<std::int64_t>(std::llround(1e9 / rate));

    const std::uint64_t thread_id_key = builder.intern("thread_id");
    const std::uint64_t thread_name_key = builder.intern("thread_name");
    const std::uint64_t pid_key = builder.intern("pid");
    auto add_sample = [&](CallTree::NodeId leaf, std::uint64_t count, const ThreadRecord* thread) {
        const std::vector<std::uint64_t> locations = builder.locations_of(leaf);
        const std::uint64_t values[] = {count, count * static_cast<std::uint64_t>(period)};
        protobuf::Writer sample;
        sample.packed_varints(field::sample_location_id, locations);
        sample.packed_varints(field::sample_value, values);
        if (thread) {
            sample.message_field(field::sample_label, label(thread_id_key, 0, thread->tid));
            sample.message_field(field::sample_label,
                                 label(thread_name_key, builder.intern(thread->name), 0));
            sample.message_field(field::sample_label, label(pid_key, 0, thread->pid));
        }
        out.message_field(field::sample, sample);
    };
    if (!profile.thread_stacks.empty()) {
        for (const auto& [key, count] : profile.thread_stacks) {
            const auto& [thread, leaf] = key;
            add_sample(leaf, count, thread < profile.threads.size() ? &profile.threads[thread] : nullptr);
        }
    } else {
        // A profile built without threads (from folded stacks, or by hand): one sample per stack.
        for (CallTree::NodeId id = 1; id < profile.tree.node_count(); ++id)
            if (profile.tree.node(id).self > 0)
                add_sample(id, profile.tree.node(id).self, nullptr);
    }

    builder.write_tables(out);
    if (profile.info.start_unix_nanos != 0)
        out.signed_field(field::time_nanos, profile.info.start_unix_nanos);
    out.signed_field(field::duration_nanos,
                     static_cast<std::int64_t>(std::llround(profile.info.duration_seconds * 1e9)));
    out.message_field(field::period_type, value_type(builder, "cpu", "nanoseconds"));
    out.signed_field(field::period, period);
    // Last: every other part has interned its strings by now.
    for (const std::string& text : builder.string_table())
        out.bytes_field(field::string_table, text);
    return out.bytes();
}

std::string render_pprof(const Profile& profile) {
    return gzip_compress(encode_pprof(profile));
}

} // namespace sampler

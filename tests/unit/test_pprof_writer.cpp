// pprof output: checked field by field with a small decoder, then read by the real consumer,
// `go tool pprof` (Debian golang-go), whose totals and top function must match ours.
#include <catch2/catch.hpp>

#include "external_tools.hpp"
#include "pprof_writer.hpp"
#include "recorded_profile.hpp"
#include "skips.hpp"

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace sampler;
using namespace sampler::testing;

namespace {

// One decoded field: varints in `number`, length-delimited ones in `bytes`.
struct Field {
    std::uint32_t id = 0;
    std::uint64_t number = 0;
    std::string bytes;
};

std::uint64_t read_varint(const std::string& data, std::size_t& at) {
    std::uint64_t value = 0;
    for (int shift = 0; at < data.size(); shift += 7) {
        const auto byte = static_cast<unsigned char>(data[at++]);
        value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return value;
    }
    throw std::runtime_error("truncated varint");
}

std::vector<Field> decode(const std::string& data) {
    std::vector<Field> fields;
    for (std::size_t at = 0; at < data.size();) {
        const std::uint64_t key = read_varint(data, at);
        Field field;
        field.id = static_cast<std::uint32_t>(key >> 3);
        if ((key & 7) == 0) {
            field.number = read_varint(data, at);
        } else if ((key & 7) == 2) {
            const std::uint64_t length = read_varint(data, at);
            REQUIRE(at + length <= data.size());
            field.bytes = data.substr(at, length);
            at += length;
        } else {
            FAIL("unexpected wire type " << (key & 7));
        }
        fields.push_back(field);
    }
    return fields;
}

std::vector<Field> fields_of(const std::vector<Field>& fields, std::uint32_t id) {
    std::vector<Field> found;
    for (const Field& field : fields)
        if (field.id == id)
            found.push_back(field);
    return found;
}

// Two threads of one process; `mix` is inlined into `compute`, and the hottest function.
Profile two_thread_profile() {
    Profile profile;
    profile.info.pid = 100;
    profile.info.requested_rate_hz = 250; // period 4 ms
    profile.info.duration_seconds = 2;
    profile.info.start_unix_nanos = 1700000000000000000;
    RecordedProfile recorder(profile, false);
    const ThreadInfo main_thread = thread_info(100, 100, "app");
    const ThreadInfo worker = thread_info(100, 101, "worker");
    for (int i = 0; i < 6; ++i)
        recorder.sample(main_thread,
                        {native_frame("mix", true), native_frame("compute"), native_frame("main")}, i);
    for (int i = 0; i < 2; ++i)
        recorder.sample(main_thread, {native_frame("compute"), native_frame("main")}, 10 + i);
    for (int i = 0; i < 3; ++i)
        recorder.sample(worker, {native_frame("log"), native_frame("worker_loop")}, 20 + i);
    recorder.sample(worker, {python_frame("handle", "app/views.py", 42), native_frame("worker_loop")}, 30);
    return profile;
}

} // namespace

TEST_CASE("pprof message has the tables, ids and units pprof expects", "[pprof]") {
    const Profile profile = two_thread_profile();
    const std::vector<Field> message = decode(encode_pprof(profile));

    const auto strings = fields_of(message, 6);
    REQUIRE_FALSE(strings.empty());
    CHECK(strings[0].bytes.empty()); // string_table[0] must be ""
    auto text = [&](std::uint64_t index) { return strings.at(index).bytes; };

    const auto sample_types = fields_of(message, 1);
    REQUIRE(sample_types.size() == 2);
    CHECK(text(fields_of(decode(sample_types[0].bytes), 1)[0].number) == "samples");
    CHECK(text(fields_of(decode(sample_types[0].bytes), 2)[0].number) == "count");
    CHECK(text(fields_of(decode(sample_types[1].bytes), 1)[0].number) == "cpu");
    CHECK(text(fields_of(decode(sample_types[1].bytes), 2)[0].number) == "nanoseconds");
    CHECK(fields_of(message, 12).at(0).number == 4000000);
    CHECK(fields_of(message, 9).at(0).number == 1700000000000000000ULL);
    CHECK(fields_of(message, 10).at(0).number == 2000000000ULL);

    // One sample per (thread, stack): two stacks on each thread.
    const auto samples = fields_of(message, 2);
    CHECK(samples.size() == 4);
    std::uint64_t total = 0;
    std::map<std::string, std::uint64_t> per_thread_name;
    for (const Field& sample : samples) {
        const auto fields = decode(sample.bytes);
        std::size_t at = 0;
        const std::string values = fields_of(fields, 2).at(0).bytes; // a copy: fields_of returns a temporary
        const std::uint64_t count = read_varint(values, at);
        CHECK(read_varint(values, at) == count * 4000000);
        total += count;
        std::map<std::string, Field> labels;
        for (const Field& label : fields_of(fields, 3)) {
            const auto parts = decode(label.bytes);
            labels[text(fields_of(parts, 1).at(0).number)] = parts.at(1);
        }
        REQUIRE(labels.count("thread_id"));
        REQUIRE(labels.count("thread_name"));
        REQUIRE(labels.count("pid"));
        CHECK(labels["pid"].number == 100);
        per_thread_name[text(labels["thread_name"].number)] += count;
    }
    CHECK(total == 12);
    CHECK(per_thread_name == std::map<std::string, std::uint64_t>{{"app", 8}, {"worker", 4}});

    // Every id is non-zero; the inlined mix and its caller compute share one location.
    const auto locations = fields_of(message, 4);
    const auto functions = fields_of(message, 5);
    CHECK(functions.size() == 6);
    std::map<std::uint64_t, std::string> function_names;
    for (const Field& function : functions) {
        const auto fields = decode(function.bytes);
        REQUIRE(fields_of(fields, 1).at(0).number != 0);
        function_names[fields_of(fields, 1)[0].number] = text(fields_of(fields, 2).at(0).number);
    }
    bool found_inline_location = false;
    for (const Field& location : locations) {
        const auto fields = decode(location.bytes);
        REQUIRE(fields_of(fields, 1).at(0).number != 0);
        std::vector<std::string> names;
        for (const Field& line : fields_of(fields, 4))
            names.push_back(function_names.at(fields_of(decode(line.bytes), 1).at(0).number));
        if (names.size() == 2) {
            CHECK(names == std::vector<std::string>{"mix", "compute"}); // innermost first
            found_inline_location = true;
        }
    }
    CHECK(found_inline_location);
}

TEST_CASE("pprof file is gzip and go tool pprof reads the same totals and top function", "[pprof][go]") {
    const std::string file = render_pprof(two_thread_profile());
    REQUIRE(file.size() > 18);
    CHECK(static_cast<unsigned char>(file[0]) == 0x1F);
    CHECK(static_cast<unsigned char>(file[1]) == 0x8B);

    const ToolResult go = ensure_debian_tool("go", "golang-go");
    if (!go.ok)
        skip_test("no go tool pprof check: " + go.reason);
    const std::string path = write_temp_file("profile.pb.gz", file);
    // Offline, no home directory needed: go only reads the file.
    const std::string env = "HOME=/tmp GOFLAGS=-mod=mod GOTOOLCHAIN=local PPROF_TMPDIR=/tmp ";
    const ShellResult raw = run_shell(env + "go tool pprof -raw " + shell_quote(path));
    INFO(raw.out);
    REQUIRE(raw.status == 0);
    // -raw lists each sample as "COUNT NANOS: LOCATION IDS"; add up the counts.
    std::istringstream lines(raw.out);
    std::string line;
    std::uint64_t counted = 0;
    bool in_samples = false;
    while (std::getline(lines, line)) {
        if (line.rfind("samples/count", 0) == 0) {
            in_samples = true;
            continue;
        }
        if (line.rfind("Locations", 0) == 0)
            break;
        if (in_samples && line.find(':') != std::string::npos && line.find('[') == std::string::npos) {
            std::istringstream fields(line);
            std::uint64_t count = 0;
            if (fields >> count)
                counted += count;
        }
    }
    CHECK(counted == 12);
    CHECK(raw.out.find("thread_name:[worker]") != std::string::npos);

    const ShellResult top = run_shell(env + "go tool pprof -top -sample_index=samples " + shell_quote(path));
    INFO(top.out);
    REQUIRE(top.status == 0);
    const auto header = top.out.find("flat%");
    REQUIRE(header != std::string::npos);
    const auto first_row = top.out.substr(top.out.find('\n', header) + 1);
    CHECK(first_row.substr(0, first_row.find('\n')).find(" mix") != std::string::npos);
    CHECK(top.out.find("of 12 total") != std::string::npos);
}

TEST_CASE("pprof mappings carry path, range and build-id, and functions their file and start line",
          "[pprof]") {
    Profile profile;
    profile.info.requested_rate_hz = 100;
    RecordedProfile recorder(profile, false);
    Frame work = native_frame("work");
    work.module = "app";
    work.function_offset = 0x1200;
    work.function_file = "/src/app.cpp";
    work.function_line = 10;
    Frame handler = python_frame("handle", "app/views.py", 42);
    handler.function_line = 40;
    recorder.sample(thread_info(1, 1, "main"), {work, handler}, 0);
    recorder.add_modules(
        {{.path = "/opt/bin/app", .build_id = "abcd01", .start = 0x5000, .end = 0x9000, .bias = 0x5000},
         {.path = "/lib/unused.so", .build_id = "", .start = 0xA000, .end = 0xB000, .bias = 0}});

    const std::vector<Field> message = decode(encode_pprof(profile));
    const auto strings = fields_of(message, 6);
    auto text = [&](std::uint64_t index) { return strings.at(index).bytes; };

    // Only modules that locations refer to get a mapping.
    const auto mappings = fields_of(message, 3);
    REQUIRE(mappings.size() == 1);
    const auto mapping = decode(mappings[0].bytes);
    CHECK(fields_of(mapping, 2).at(0).number == 0x5000);
    CHECK(fields_of(mapping, 3).at(0).number == 0x9000);
    CHECK(text(fields_of(mapping, 5).at(0).number) == "/opt/bin/app");
    CHECK(text(fields_of(mapping, 6).at(0).number) == "abcd01");
    CHECK(fields_of(mapping, 7).at(0).number == 1); // has_functions: already symbolized

    std::map<std::string, std::vector<Field>> functions;
    for (const Field& function : fields_of(message, 5)) {
        auto fields = decode(function.bytes);
        functions[text(fields_of(fields, 2).at(0).number)] = fields;
    }
    REQUIRE(functions.count("work"));
    CHECK(text(fields_of(functions["work"], 4).at(0).number) == "/src/app.cpp");
    CHECK(fields_of(functions["work"], 5).at(0).number == 10);
    REQUIRE(functions.count("handle"));
    CHECK(text(fields_of(functions["handle"], 4).at(0).number) == "app/views.py");
    CHECK(fields_of(functions["handle"], 5).at(0).number == 40);

    // The native location is the function's entry at run time: link-time entry plus the bias.
    bool found = false;
    for (const Field& location : fields_of(message, 4)) {
        const auto fields = decode(location.bytes);
        if (fields_of(fields, 2).empty())
            continue; // the Python frame: no mapping
        CHECK(fields_of(fields, 3).at(0).number == 0x6200);
        found = true;
    }
    CHECK(found);
}

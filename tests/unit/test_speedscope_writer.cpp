// speedscope output: structure checked here, and validated against the JSON schema speedscope
// publishes in its npm package (with ajv under node).
#include <catch2/catch.hpp>

#include "external_tools.hpp"
#include "recorded_profile.hpp"
#include "skips.hpp"
#include "speedscope_writer.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

using namespace sampler;
using namespace sampler::testing;
using json = nlohmann::json;

namespace {

Profile timeline_profile() {
    Profile profile;
    profile.info.pid = 7;
    profile.info.command_line = "./app";
    profile.info.requested_rate_hz = 100;
    profile.info.duration_seconds = 0.05;
    RecordedProfile recorder(profile);
    const ThreadInfo main_thread = thread_info(7, 7, "app");
    const ThreadInfo worker = thread_info(7, 8, "worker \"w\"");
    recorder.sample(main_thread, {native_frame("compute"), native_frame("main")}, 0);
    recorder.sample(worker, {python_frame("handle", "views.py", 12), native_frame("loop")}, 1);
    recorder.sample(main_thread, {native_frame("log"), native_frame("main")}, 10);
    recorder.sample(main_thread, {native_frame("compute"), native_frame("main")}, 20);
    return profile;
}

std::string frame_name(const json& document, std::size_t index) {
    return document["shared"]["frames"].at(index)["name"];
}

} // namespace

TEST_CASE("speedscope file has one sampled profile per thread, in time order", "[speedscope]") {
    const json document = json::parse(render_speedscope(timeline_profile(), "sampler@1.2.3"));
    CHECK(document["$schema"] == "https://www.speedscope.app/file-format-schema.json");
    CHECK(document["exporter"] == "sampler@1.2.3");
    REQUIRE(document["profiles"].size() == 2);

    const json& main_profile = document["profiles"][0];
    CHECK(main_profile["type"] == "sampled");
    CHECK(main_profile["name"] == "thread 7 (app)");
    CHECK(main_profile["unit"] == "seconds");
    REQUIRE(main_profile["samples"].size() == 3);
    CHECK(main_profile["weights"] == json::array({0.01, 0.01, 0.01}));
    // Root first, in the order sampled: compute, log, compute.
    const json& first = main_profile["samples"][0];
    CHECK(frame_name(document, first[0]) == "main");
    CHECK(frame_name(document, first[1]) == "compute");
    CHECK(frame_name(document, main_profile["samples"][1][1]) == "log");
    CHECK(main_profile["samples"][2] == first);

    const json& worker = document["profiles"][1];
    CHECK(worker["name"] == "thread 8 (worker \"w\")");
    const json& python = document["shared"]["frames"].at(worker["samples"][0][1].get<std::size_t>());
    CHECK(python["name"] == "handle");
    CHECK(python["file"] == "views.py");
    CHECK(python["line"] == 12);
}

TEST_CASE("speedscope file validates against speedscope's published schema", "[speedscope][npm]") {
    const ToolResult npm = ensure_npm_packages({"speedscope", "ajv"});
    if (!npm.ok)
        skip_test("no check against speedscope's schema: " + npm.reason);
    std::string schema;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(npm.reason + "/node_modules/speedscope"))
        if (entry.path().filename() == "file-format-schema.json")
            schema = entry.path().string();
    REQUIRE_FALSE(schema.empty());

    const std::string file =
        write_temp_file("profile.speedscope.json", render_speedscope(timeline_profile(), "sampler@1.2.3"));
    const std::string script = write_temp_file("validate.js", R"js(
const Ajv = require("ajv");
const fs = require("fs");
const schema = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const data = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const ajv = new Ajv({strict: false, allErrors: true});
const validate = ajv.compile(schema);
if (!validate(data)) { console.log(JSON.stringify(validate.errors, null, 1)); process.exit(1); }
console.log("valid");
)js");
    const ShellResult result = run_shell(
        "cd " + shell_quote(npm.reason) + " && NODE_PATH=" + shell_quote(npm.reason + "/node_modules") +
        " node " + shell_quote(script) + " " + shell_quote(schema) + " " + shell_quote(file));
    INFO(result.out);
    CHECK(result.status == 0);
    CHECK(result.out.find("valid") != std::string::npos);
}

#include <catch2/catch.hpp>

#include "chrome_trace_writer.hpp"
#include "recorded_profile.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <vector>

using namespace sampler;
using namespace sampler::testing;
using json = nlohmann::json;

namespace {

Profile trace_profile() {
    Profile profile;
    profile.info.pid = 7;
    profile.info.command_line = "./app";
    profile.info.requested_rate_hz = 100; // 10 ms
    RecordedProfile recorder(profile);
    const ThreadInfo main_thread = thread_info(7, 7, "app");
    const ThreadInfo worker = thread_info(7, 8, "worker");
    recorder.sample(main_thread, {native_frame("compute"), native_frame("main")}, 0);
    recorder.sample(worker, {native_frame("poll"), native_frame("loop")}, 1);
    recorder.sample(main_thread, {native_frame("compute"), native_frame("main")}, 10);
    recorder.sample(main_thread, {native_frame("log"), native_frame("main")}, 20);
    recorder.sample(main_thread, {native_frame("main")}, 30);
    recorder.sample(worker, {native_frame("poll"), native_frame("loop")}, 200); // after an idle gap
    return profile;
}

} // namespace

TEST_CASE("chrome trace is valid JSON with balanced, time-ordered B/E events per thread", "[chrometrace]") {
    const json document = json::parse(render_chrome_trace(trace_profile(), "sampler@1.2.3"));
    REQUIRE(document["traceEvents"].is_array());
    std::map<int, std::vector<std::string>> open;
    std::map<int, double> last_time;
    std::map<std::string, int> begins;
    std::map<int, std::string> thread_names;
    for (const json& event : document["traceEvents"]) {
        const std::string phase = event["ph"];
        const int tid = event["tid"];
        if (phase == "M") {
            if (event["name"] == "thread_name")
                thread_names[tid] = event["args"]["name"];
            continue;
        }
        const double ts = event["ts"];
        if (last_time.count(tid))
            CHECK(ts >= last_time[tid]);
        last_time[tid] = ts;
        if (phase == "B") {
            open[tid].push_back(event["name"]);
            ++begins[event["name"]];
        } else {
            REQUIRE(phase == "E");
            REQUIRE_FALSE(open[tid].empty());
            CHECK(open[tid].back() == event["name"]); // ends innermost first
            open[tid].pop_back();
        }
    }
    for (const auto& [tid, stack] : open)
        CHECK(stack.empty());
    CHECK(thread_names == std::map<int, std::string>{{7, "app"}, {8, "worker"}});
    // main stays open across its four samples; compute spans two; the worker's idle gap splits it.
    CHECK(begins["main"] == 1);
    CHECK(begins["compute"] == 1);
    CHECK(begins["log"] == 1);
    CHECK(begins["poll"] == 2);
    CHECK(document["otherData"]["exporter"] == "sampler@1.2.3");
}

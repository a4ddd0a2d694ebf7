// `record --asyncio` on real asyncio servers from Debian's packages, run by Debian's python3:
// aiohttp (python/aiohttp_service.py), and FastAPI under uvicorn on asyncio's own loop
// (python/fastapi_service.py). Their handlers block the loop for known times (a JSON decode of
// about 200 ms, a time.sleep(0.15)) while python/load_client.py sends short requests back to back
// and the slow ones in turn. Every block made while sampler watched is told as one stall, with the
// start and duration the server measured (± one sample interval + 10%), the request's own task
// (`Task-N`: these servers do not name theirs), the framework's coroutine that runs the request,
// the handler at the line that blocks, and the culprit frame; the short requests never make one;
// the stderr lines and the JSON lines agree. A loaded machine makes stalls of its own (the loop's
// thread waits for a CPU) and makes sampler look less often: the time they waited, read from /proc
// while recording, is what widens the tolerances, and what alone may explain a stall of a short
// request or a block missed; so does each look at the loop lost to a failed read (the block's
// length in intervals, less the stall's observations). On uvloop (python/stall_service.py
// --uvloop), `record --asyncio` says once that its stalls cannot be told apart, and still records
// the Python stacks of the coroutine that blocks; `dump --tasks` still lists its tasks.
#include "process_helpers.hpp"
#include "skips.hpp"
#include "stall_records.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

const std::string python = "/usr/bin/python3"; // the interpreter Debian's packages are built for

std::string fixture(const std::string& name) {
    return source_path("tests/integration/python/" + name);
}

void require_modules(const std::string& modules, const std::string& packages) {
    ChildProcess probe({python, "-c", "import " + modules});
    if (probe.wait(30s) != 0)
        skip_test(modules + " not importable by " + python + " (Debian package " + packages + ")");
}

struct Framework {
    std::string script;
    std::string modules, packages; // what it imports, and the Debian packages they come from
    // The coroutine of the task each request runs in, and its file.
    std::string coroutine, coroutine_file;
};

const Framework aiohttp{"aiohttp_service.py", "aiohttp", "python3-aiohttp", "RequestHandler._handle_request",
                        "aiohttp/web_protocol.py"};
const Framework fastapi{"fastapi_service.py", "fastapi, uvicorn", "python3-fastapi, python3-uvicorn",
                        "RequestResponseCycle.run_asgi", "uvicorn/protocols/http/h11_impl.py"};

// A server, and the load on it once it is warm; both killed and reaped when the test ends.
class LoadedServer {
  public:
    explicit LoadedServer(const Framework& framework) : server_({python, fixture(framework.script)}) {
        INFO("server stderr: " << server_.errors());
        REQUIRE(wait_for_output(server_, "ready ", 60s));
        std::smatch port;
        const std::string output = server_.output();
        REQUIRE(std::regex_search(output, port, std::regex("ready ([0-9]+)\n")));
        // Its own deadline is far beyond the test's: the destructor ends it.
        client_.emplace(std::vector<std::string>{python, fixture("load_client.py"), port[1], "300"});
        INFO("client stderr: " << client_->errors());
        REQUIRE(wait_for_output(*client_, "warm\n", 60s));
    }
    int pid() const { return server_.pid(); }
    std::string output() const { return server_.output(); }

  private:
    ChildProcess server_;
    std::optional<ChildProcess> client_;
};

const nlohmann::json* frame_in(const nlohmann::json& stack, const std::string& file) {
    for (const nlohmann::json& frame : stack)
        if (frame.contains("file") && frame["file"].get<std::string>().ends_with(file))
            return &frame;
    return nullptr;
}

void check_server_stalls(const LoadedServer& server, const Framework& framework,
                         const RecordedStalls& recorded, const RunDelayMonitor& loop_delays,
                         const RunDelayMonitor& sampler_delays) {
    INFO("sampler stderr:\n" << recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const std::string script = fixture(framework.script);
    const std::vector<MadeBlock> made = made_blocks(server.output());
    INFO("server output:\n" << server.output());
    std::vector<std::size_t> told; // the blocks told, by index in `made`
    int decodes = 0, sleeps = 0;
    for (const nlohmann::json& stall : recorded.stalls) {
        INFO("stall: " << stall.dump());
        CHECK(stall["thread"] == "MainThread");
        CHECK(stall["tid"] == server.pid());
        // The handler, at the line that blocks: one of the two slow ones, in the request's task.
        const nlohmann::json& stack = stall["stack"];
        const nlohmann::json* handler = frame_in(stack, framework.script);
        const std::string name = handler ? (*handler)["name"].get<std::string>() : "";
        const bool blocking = name == "decode" || name == "sleep";
        if (blocking) {
            CHECK(stall["task"].is_string());
            CHECK(std::regex_match(stall["task"].is_string() ? stall["task"].get<std::string>() : "",
                                   std::regex("Task-[0-9]+")));
            CHECK(stall["coroutine"]["name"] == framework.coroutine);
            CHECK(stall["coroutine"]["file"].get<std::string>().ends_with(framework.coroutine_file));
            CHECK((*handler)["line"] ==
                  line_of_marker(script, name == "decode" ? "MARK: decode" : "MARK: sleep"));
            if (name == "decode") {
                ++decodes;
                CHECK(stack[0]["name"] == "JSONDecoder.raw_decode"); // the culprit, innermost
                CHECK(stack[0]["file"] == "json/decoder.py");
            } else {
                ++sleeps;
                CHECK(stack[0] == *handler); // time.sleep is C: the handler is the innermost Python frame
            }
        }
        // Sampler attached in the middle of it: what it saw may be what ran after the handler.
        if (stall["began_before"].get<bool>())
            continue;
        const double start = stall["start"].get<double>();
        const double duration_ms = stall["duration_ms"].get<double>();
        const double waited_ms = 1000 * loop_delays.waited(start, start + duration_ms / 1000);
        INFO("the loop's thread waited for a CPU " << waited_ms << " ms of it");
        // A stall of anything else (a /fast request's task, the protocol's own callbacks) is the
        // loaded machine's: the loop's thread waited for a CPU most of it.
        if (!blocking) {
            CHECK(waited_ms >= duration_ms / 2);
            continue;
        }
        if (stall["ongoing"].get<bool>())
            continue; // cut by the end of the recording
        // The block it tells: the same handler's that began nearest (a handler's blocks begin
        // 0.6 s apart or more), at the same time and as long, each within one sample interval +
        // 10%. What a busy machine made the loop's thread and sampler wait for a CPU around it
        // widens both: the server timed its handler alone, not the framework's work around it in
        // the same callback, and sampler, waiting, looks less often.
        const MadeBlock* block = nullptr;
        for (const MadeBlock& candidate : made)
            if (candidate.name == name && candidate.start &&
                (!block || std::abs(*candidate.start - start) < std::abs(*block->start - start)))
                block = &candidate;
        REQUIRE(block);
        const double from = std::min(start, *block->start) - 0.05;
        const double to = std::max(start + duration_ms / 1000, *block->start + block->seconds) + 0.05;
        double slack_ms = 1000 * (loop_delays.waited(from, to) + sampler_delays.waited(from, to));
        // A look that found nothing (a read that failed or was torn, again after two retries)
        // leaves one more interval unknown: counted from the looks the block should have had.
        const double expected_looks = std::floor(1000 * block->seconds / stall_interval_ms);
        const double lost_looks = std::max(0.0, expected_looks - stall["observations"].get<double>());
        slack_ms += lost_looks * stall_interval_ms;
        INFO("the block: " << block->seconds << " s at " << std::fixed << *block->start
                           << "; waits for a CPU around both, and looks lost: " << slack_ms << " ms ("
                           << lost_looks << " looks lost)");
        CHECK(std::abs(1000 * (start - *block->start)) <= stall_tolerance_ms(*block) + slack_ms);
        CHECK(std::abs(duration_ms - 1000 * block->seconds) <= stall_tolerance_ms(*block) + slack_ms);
        told.push_back(static_cast<std::size_t>(block - made.data()));
    }
    // The slow requests in turn: one of each every 0.7 s or so, about 7 of each in 5 s on a quiet
    // machine; on a loaded one, a decode has been seen to take 3 s.
    CHECK(decodes >= 1);
    CHECK(sleeps >= 1);
    // None missed: every block made between the first block told and the last is told, once.
    // Sampler may miss one only while the machine was too busy for it to look: it, or the loop's
    // thread, waited for a CPU then, 10% of the block or more.
    if (!told.empty()) {
        const auto [first, last] = std::ranges::minmax(told);
        for (std::size_t i = first; i <= last; ++i) {
            const double start = made[i].start.value_or(0);
            const double end = start + made[i].seconds;
            const double waited_ms =
                1000 * std::max(loop_delays.waited(start, end), sampler_delays.waited(start, end));
            INFO("block " << made[i].name << " of " << made[i].seconds << " s at " << std::fixed << start
                          << ", sampler or the loop's thread waited for a CPU " << waited_ms << " ms of it");
            const auto times = std::ranges::count(told, i);
            CHECK((times == 1 || (times == 0 && waited_ms >= 100 * made[i].seconds)));
        }
    }
    check_lines_agree(recorded);
    check_target_runs_on(server.pid());
}

void record_loaded_server(const Framework& framework) {
    require_modules(framework.modules, framework.packages);
    LoadedServer server(framework);
    const RunDelayMonitor loop_delays(server.pid(), server.pid());
    const RunDelayMonitor sampler_delays("sampler");
    check_server_stalls(server, framework, record_stalls(server.pid(), "perf"), loop_delays, sampler_delays);
}

} // namespace

TEST_CASE("aiohttp: record --asyncio tells each handler that blocks the loop, under load",
          "[python][asyncio][perf]") {
    record_loaded_server(aiohttp);
}

TEST_CASE("FastAPI under uvicorn: record --asyncio tells each handler that blocks the loop, under load",
          "[python][asyncio][perf]") {
    record_loaded_server(fastapi);
}

TEST_CASE("uvloop: record --asyncio says once that its stalls cannot be told, and records the Python stacks",
          "[python][asyncio][perf]") {
    require_modules("uvloop", "python3-uvloop");
    const std::string service = fixture("stall_service.py");
    ChildProcess target({python, service, "stalls", "--uvloop"});
    INFO("service stderr: " << target.errors());
    REQUIRE(wait_for_output(target, "ready\n", 30s));
    RecordedStalls recorded = record_stalls(target.pid(), "perf");
    INFO("sampler stderr:\n" << recorded.result.err);
    REQUIRE(recorded.result.exit_code == 0);
    const std::string notice = "sampler: --asyncio: process " + std::to_string(target.pid()) +
                               " runs uvloop, whose loop runs callbacks in compiled code: its stalls "
                               "cannot be told apart";
    const std::size_t first = recorded.result.err.find(notice);
    CHECK(first != std::string::npos);
    CHECK(recorded.result.err.find(notice, first + 1) == std::string::npos);
    CHECK(recorded.stalls.empty());
    check_lines_agree(recorded);
    // The decoder's 200 ms of CPU a second, about a fifth of the loop's: its coroutine and what it
    // calls, as on asyncio's own loop.
    const auto folded = parse_folded(recorded.folded);
    INFO("folded:\n" << recorded.folded);
    const std::string decoder =
        "decoder (stall_service.py:" + std::to_string(line_of_marker(service, "MARK: decode")) +
        ");decode_body (";
    long decoding = 0;
    for (const auto& [stack, count] : folded)
        if (stack.find(decoder) != std::string::npos && stack.find(";burn (") != std::string::npos)
            decoding += count;
    CHECK(decoding > 0);
    CHECK(decoding >= total_samples(folded) / 20);
    // dump --tasks still lists the tasks, with their names and who awaits them.
    CommandResult dump = run_sampler({"dump", "--tasks", "--json", "--pid", std::to_string(target.pid())});
    INFO("dump --tasks: " << dump.out << dump.err);
    REQUIRE(dump.exit_code == 0);
    const nlohmann::json tasks = nlohmann::json::parse(dump.out);
    REQUIRE(tasks["loops"].size() == 1);
    std::set<std::string> gathered;
    for (const nlohmann::json& task : tasks["loops"][0]["tasks"])
        if (task["awaited_by"].size() == 1 && task["awaited_by"][0]["via"] == "gather")
            gathered.insert(task["name"].get<std::string>());
    CHECK(gathered.contains("chatter"));
    CHECK(gathered.contains("decoder"));
    CHECK(gathered.contains("sleeper"));
    check_target_runs_on(target.pid());
}

#include "stall_records.hpp"

#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <unistd.h>

namespace sampler::testing {

RecordedStalls record_stalls(int pid, const std::string& engine, const std::vector<std::string>& extra) {
    const std::string stalls_path = temp_path("stalls.jsonl");
    const std::string folded_path = temp_path("stalls.folded");
    // 5 s: with a block every 0.6 s or so, several of each kind whole.
    std::vector<std::string> args{"record", "--asyncio", "--capture", engine, "--pid", std::to_string(pid)};
    for (const char* arg : {"-r", "100", "-d", "5", "-f", "folded"})
        args.push_back(arg);
    for (const std::string& arg : {std::string("-o"), folded_path, std::string("--stalls"), stalls_path})
        args.push_back(arg);
    args.insert(args.end(), extra.begin(), extra.end());
    RecordedStalls recorded;
    recorded.result = run_sampler(args);
    std::istringstream lines(read_file(stalls_path));
    for (std::string line; std::getline(lines, line);)
        if (!line.empty())
            recorded.stalls.push_back(nlohmann::json::parse(line));
    recorded.folded = read_file(folded_path);
    return recorded;
}

std::vector<std::string> stall_lines(const std::string& err) {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("sampler: stall ", 0) == 0)
            lines.push_back(line);
    return lines;
}

std::vector<MadeBlock> made_blocks(const std::string& output) {
    std::vector<MadeBlock> blocks;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string word;
        MadeBlock block;
        if (!(words >> word) || word != "made" || !(words >> block.name >> block.seconds))
            continue;
        if (double start = 0; words >> start)
            block.start = start;
        blocks.push_back(std::move(block));
    }
    return blocks;
}

double stall_tolerance_ms(const MadeBlock& block) {
    return stall_interval_ms + 100 * block.seconds;
}

bool stall_matches(double duration_ms, const MadeBlock& block) {
    return std::abs(duration_ms - 1000 * block.seconds) <= stall_tolerance_ms(block);
}

namespace {

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

} // namespace

RunDelayMonitor::RunDelayMonitor(int pid, int tid) {
    path_ = [pid](int thread) {
        return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(thread) + "/schedstat";
    };
    start([tid] { return tid; });
}

RunDelayMonitor::RunDelayMonitor(const std::string& child_comm) {
    path_ = [](int process) { return "/proc/" + std::to_string(process) + "/schedstat"; };
    start([child_comm, parent = ::getpid()] {
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
            const std::string name = entry.path().filename();
            if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0])))
                continue;
            // "PID (COMM) STATE PPID ...": the parent is the second field after the comm.
            const std::string stat = read_file("/proc/" + name + "/stat");
            const std::size_t close = stat.rfind(')');
            std::istringstream after(close == std::string::npos ? "" : stat.substr(close + 1));
            std::string state;
            int ppid = 0;
            if (after >> state >> ppid && ppid == parent &&
                stat.find("(" + child_comm + ")") != std::string::npos)
                return std::stoi(name);
        }
        return 0;
    });
}

void RunDelayMonitor::start(std::function<int()> find) {
    reader_ = std::thread([this, find = std::move(find)] {
        int thread = 0;
        // Bounded: an hour of readings at most, however long the test.
        for (int i = 0; i < 720000 && !stop_; ++i) {
            if (thread == 0)
                thread = find();
            std::istringstream fields(thread ? read_file(path_(thread)) : "");
            double on_cpu_ns = 0, run_delay_ns = 0;
            if (fields >> on_cpu_ns >> run_delay_ns) {
                const std::lock_guard lock(mutex_);
                readings_.push_back({unix_now(), run_delay_ns / 1e9, thread});
            } else {
                thread = 0; // gone: look for the next one
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
}

RunDelayMonitor::~RunDelayMonitor() {
    stop_ = true;
    reader_.join();
}

double RunDelayMonitor::waited(double from, double to) const {
    const std::lock_guard lock(mutex_);
    const Reading* before = nullptr;
    const Reading* after = nullptr;
    for (const Reading& reading : readings_) {
        if (reading.time <= from)
            before = &reading;
        if (reading.time >= to && !after)
            after = &reading;
    }
    if (!before || !after || before->thread != after->thread)
        return 0; // not watched over all of it: nothing known
    return after->run_delay - before->run_delay;
}

namespace {

// "name (file:line)" as the stderr line names the culprit's coroutine.
std::string place(const nlohmann::json& frame) {
    std::string text = frame["name"].get<std::string>();
    if (frame.contains("file")) {
        text += " (" + frame["file"].get<std::string>();
        if (frame.contains("line"))
            text += ":" + std::to_string(frame["line"].get<int>());
        text += ")";
    }
    return text;
}

} // namespace

void check_lines_agree(const RecordedStalls& recorded) {
    const std::vector<std::string> lines = stall_lines(recorded.result.err);
    REQUIRE(lines.size() == recorded.stalls.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const nlohmann::json& stall = recorded.stalls[i];
        INFO("line: " << lines[i] << "\nstall: " << stall.dump());
        char duration[32];
        std::snprintf(duration, sizeof duration, "%.0f ms", stall["duration_ms"].get<double>());
        const std::string coroutine = stall["coroutine"].is_null() ? "" : place(stall["coroutine"]);
        const std::string culprit = stall["task"].is_string() ? stall["task"].get<std::string>() +
                                                                    (coroutine.empty() ? "" : " " + coroutine)
                                    : coroutine.empty() ? "callback (no Python frames)"
                                                        : "callback " + coroutine;
        const std::string head = std::string("sampler: stall ") + duration +
                                 (stall["began_before"].get<bool>() ? " (or more: began before)" : "") +
                                 (stall["ongoing"].get<bool>() ? " (still running)" : "") + "  " + culprit;
        CHECK(lines[i].rfind(head, 0) == 0);
        // The innermost frame ends the line, unless the coroutine is all there is.
        const nlohmann::json& stack = stall["stack"];
        if (stack.size() > 1)
            CHECK(lines[i].ends_with(" > " + stack[0]["name"].get<std::string>()));
        else
            CHECK(lines[i] == head);
    }
    const std::string summary = lines.empty() ? "sampler: --asyncio: no event-loop stall of"
                                : lines.size() == 1
                                    ? "sampler: --asyncio: 1 stall of"
                                    : "sampler: --asyncio: " + std::to_string(lines.size()) + " stalls of";
    CHECK(recorded.result.err.find(summary) != std::string::npos);
}

} // namespace sampler::testing

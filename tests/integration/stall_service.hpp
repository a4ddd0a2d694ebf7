#pragma once
// python/stall_service.py, started and ready: an asyncio program whose event loop is blocked for
// known times (a 200 ms CPU-bound step of task `decoder`, a 150 ms time.sleep in task `sleeper`)
// among back-to-back 3 ms steps of task `chatter` (mode `stalls`), or that only waits (mode
// `idle`). It measures each block it makes itself, and the steps of chatter a loaded machine
// stretched into blocks (a test run under `nice` on a busy machine sees some). Killed and reaped
// when it goes away.

#include "../python/interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace sampler::testing {

inline const std::string& stall_service_path() {
    static const std::string path = source_path("tests/integration/python/stall_service.py");
    return path;
}

// The interpreter the single-interpreter tests use: pyenv CPython 3.12; without it the test is
// skipped.
inline Interpreter stall_service_python() {
    auto interpreter = find_pyenv_interpreter("3.12");
    if (!interpreter)
        skip_test("no pyenv CPython 3.12 on this machine");
    return *interpreter;
}

struct StallService {
    StallService(const Interpreter& interpreter, const std::string& mode, bool python_tasks)
        : process(argv(interpreter, mode, python_tasks)) {
        INFO("service stderr: " << process.errors());
        REQUIRE(wait_for_output(process, "ready\n", std::chrono::seconds(30)));
    }
    static std::vector<std::string> argv(const Interpreter& interpreter, const std::string& mode,
                                         bool python_tasks) {
        std::vector<std::string> args{interpreter.executable, stall_service_path(), mode};
        if (python_tasks)
            args.push_back("--python-tasks");
        return args;
    }
    // What the service measured of each block it made: "decoder" -> seconds, in order. A step
    // of chatter is one only when a loaded machine stretched it (50 ms or more).
    std::multimap<std::string, double> made() const {
        std::multimap<std::string, double> blocks;
        std::istringstream lines(process.output());
        std::string word, name;
        double seconds = 0;
        while (lines >> word)
            if (word == "made" && lines >> name >> seconds)
                blocks.emplace(name, seconds);
        return blocks;
    }
    // Whether `duration_ms` is within `interval_ms` + 10% of a block of `task` the service
    // measured.
    bool matches_made(const std::string& task, double duration_ms, double interval_ms) const {
        const auto blocks = made();
        auto [first, last] = blocks.equal_range(task);
        for (auto block = first; block != last; ++block)
            if (std::abs(duration_ms - 1000 * block->second) <= interval_ms + 100 * block->second)
                return true;
        return false;
    }
    ChildProcess process;
};

} // namespace sampler::testing

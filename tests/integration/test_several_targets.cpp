// `--pid A,B,C`: several running processes, not children of one parent, profiled at once, each
// as a root (as with --subprocesses), by record, top and dump; a PID that does not exist is an
// error that names it.
#include "process_helpers.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

// Two busy processes: a pool of workers that share no parent with each other but the test.
struct TwoWorkers {
    TwoWorkers() {
        wait_until_started(first);
        wait_until_started(second);
    }
    std::string list() const { return std::to_string(first.pid()) + "," + std::to_string(second.pid()); }
    ChildProcess first{{fixture_path("workload"), "split"}};
    ChildProcess second{{fixture_path("workload"), "blocked"}};
};

// The rows of the first process table in `text`: PID -> the line.
std::map<int, std::string> process_rows(const std::string& text) {
    std::map<int, std::string> rows;
    for (const std::string& line : process_table_lines(text))
        rows[std::atoi(line.c_str())] = line;
    return rows;
}

} // namespace

TEST_CASE("record --pid A,B samples both, each under its own root, with a summary line each",
          "[several][record]") {
    TwoWorkers workers;
    const std::string out = temp_path("several.txt");
    CommandResult result =
        run_sampler({"record", "--pid", workers.list(), "-f", "folded", "-o", out, "-r", "200", "-d", "2"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(contains(result.err, "recording processes " + std::to_string(workers.first.pid()) + ", " +
                                   std::to_string(workers.second.pid())));
    auto folded = parse_folded(read_file(out));
    for (const ChildProcess* worker : {&workers.first, &workers.second}) {
        const std::string root = "process " + std::to_string(worker->pid()) + " (" + fixture_path("workload");
        CHECK(samples_matching(folded, root) > 50);
        // The summary's line for it: PID, command, samples, CPU share.
        std::smatch line;
        CHECK(std::regex_search(
            result.err, line,
            std::regex("sampler: process " + std::to_string(worker->pid()) +
                       " \\(\\S*workload (split|blocked)\\): \\d+ samples, [\\d.]+% CPU\\n")));
    }
    // Every stack is under one of the two roots.
    CHECK(samples_matching(folded, "process ") == total_samples(folded));
    check_target_runs_on(workers.first.pid());
    check_target_runs_on(workers.second.pid());
}

TEST_CASE("top --pid A,B --by-process --once lists both processes, the header names them", "[several][top]") {
    TwoWorkers workers;
    CommandResult result =
        run_sampler({"top", "--pid", workers.list(), "--by-process", "--once", "-r", "200", "--delay", "2"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(contains(result.out, "PIDs " + workers.list()));
    CHECK(contains(result.out, "by process, sorted by %CPU"));
    auto rows = process_rows(result.out);
    REQUIRE(rows.size() == 2);
    for (const ChildProcess* worker : {&workers.first, &workers.second}) {
        REQUIRE(rows.contains(worker->pid()));
        CHECK(contains(rows[worker->pid()], fixture_path("workload").substr(0, 20)));
    }
    // Both run the split workload on their main thread: its hot functions lead.
    for (const auto& [pid, row] : rows)
        CHECK((contains(row, "mix_step(unsigned long)") || contains(row, "burn(unsigned long)")));
}

TEST_CASE("dump --pid A,B prints both processes, --json an array of them", "[several][dump]") {
    TwoWorkers workers;
    CommandResult text = run_sampler({"dump", "--pid", workers.list()});
    INFO(text.err);
    REQUIRE(text.exit_code == 0);
    CHECK(contains(text.out, "Process " + std::to_string(workers.first.pid()) + ": "));
    CHECK(contains(text.out, "Process " + std::to_string(workers.second.pid()) + ": "));
    CHECK(contains(text.out, "block_forever()"));

    CommandResult json = run_sampler({"dump", "--pid", workers.list(), "--json"});
    REQUIRE(json.exit_code == 0);
    auto document = nlohmann::json::parse(json.out);
    REQUIRE(document.is_array());
    REQUIRE(document.size() == 2);
    CHECK(document[0]["pid"] == workers.first.pid());
    CHECK(document[1]["pid"] == workers.second.pid());
    // One PID: one object, as before.
    CommandResult one = run_sampler({"dump", "--pid", std::to_string(workers.first.pid()), "--json"});
    REQUIRE(one.exit_code == 0);
    CHECK(nlohmann::json::parse(one.out).is_object());
}

TEST_CASE("a PID given to --pid that does not exist is an error naming it", "[several][errors]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string list = std::to_string(target.pid()) + ",999999999";
    for (const char* command : {"record", "top", "dump"}) {
        std::vector<std::string> args{command, "--pid", list};
        if (std::string(command) == "record")
            args.insert(args.end(), {"-d", "1", "-o", temp_path("never.svg")});
        if (std::string(command) == "top")
            args.push_back("--once");
        CommandResult result = run_sampler(args, 30s);
        INFO(command << ": " << result.err);
        CHECK(result.exit_code == 3);
        CHECK(result.err == "sampler: error: no such process: 999999999\n");
    }
    // Not a number, or empty between commas: what a valid value is, naming the bad one.
    CommandResult bad = run_sampler({"record", "--pid", std::to_string(target.pid()) + ",abc"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err == "sampler: error: --pid: expected a process ID (a positive integer), got 'abc'\n");
    check_target_runs_on(target.pid());
}

// CPython in a PID namespace of its own (every container), profiled from here by the PID we
// see: its thread states hold the thread ids its namespace sees, which sampler must map to ours.
// Both capture engines, and dump.
#include "../python/interpreters.hpp"
#include "namespaced_process.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

// A Python in new PID and mount namespaces (with its own /proc), running a test script.
struct ContainedPython {
    explicit ContainedPython(const Interpreter& interpreter, const std::string& script = "split.py")
        : process({"--pid", "--fork", "--mount-proc"},
                  {interpreter.executable, source_path("tests/integration/python/" + script)},
                  std::filesystem::canonical(interpreter.executable).string()) {
        std::this_thread::sleep_for(700ms); // imports done, loop entered
    }
    std::string pid() const { return std::to_string(process.pid()); }
    NamespacedProcess process;
};

std::map<std::string, long> record(const ContainedPython& target, const std::string& engine,
                                   std::vector<std::string> extra, const std::string& name,
                                   std::string& err) {
    const std::string out = temp_path(name + ".txt");
    std::vector<std::string> args{"record", "--pid",  target.pid(), "--capture", engine,
                                  "-f",     "folded", "-o",         out};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = run_sampler(args);
    err = result.err;
    INFO("sampler stderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    return parse_folded(read_file(out));
}

} // namespace

TEST_CASE("Python in a PID namespace: dump, record and --native by the host PID, on both engines",
          "[python][namespaces]") {
    if (std::string why = namespaces_unavailable(); !why.empty()) {
        skip_test(why);
    }
    std::vector<std::string> missing;
    const auto interpreters = test_interpreters({"2.7", "3.12", "3.13", "debian-3.11"}, missing);
    for (const std::string& label : missing)
        skip_part("no CPython " + label + " on this machine");
    for (const Interpreter& interpreter : interpreters) {
        DYNAMIC_SECTION(interpreter.label) {
            ContainedPython target(interpreter);
            INFO("unshare stderr: " << target.process.errors());
            REQUIRE(target.process.pid() != 0);
            // Really in a namespace of its own: it sees itself as its namespace's init.
            REQUIRE(target.process.inner_pid() == 1);

            // The thread by the id we know it by, with its Python stack (on a loaded machine the
            // interpreter may still be starting: a few tries).
            const std::regex main_thread(
                "\\nThread " + target.pid() +
                R"( \(\S+\) \[active\][^\n]*\n(    .*\n)*    main \(split\.py:(19|20)\)\n)"
                R"(    <module> \(split\.py:23\)\n)");
            CommandResult dump;
            for (int attempt = 0; attempt < 5 && !std::regex_search(dump.out, main_thread); ++attempt) {
                if (attempt > 0)
                    std::this_thread::sleep_for(500ms);
                dump = run_sampler({"dump", "--pid", target.pid()});
                REQUIRE(dump.exit_code == 0);
            }
            INFO("dump:\n" << dump.out << dump.err);
            CHECK(std::regex_search(dump.out, main_thread));

            for (const std::string engine : {"perf", "ptrace"}) {
                std::string err;
                auto folded = record(target, engine, {"-r", "200", "-d", "1"},
                                     "ns-" + interpreter.label + "-" + engine, err);
                INFO(engine << ": " << err);
                const long total = total_samples(folded);
                CHECK(total > 20);
                CHECK(samples_matching(folded, "<module> (split.py:23);main (split.py:") > total * 9 / 10);

                auto native = record(target, engine, {"-r", "200", "-d", "1", "--native"},
                                     "ns-native-" + interpreter.label + "-" + engine, err);
                INFO(engine << " --native: " << err);
                const long native_total = total_samples(native);
                CHECK(native_total > 20);
                CHECK(samples_matching(native, "<module> (split.py:23);main (split.py:") >
                      native_total * 9 / 10);
                // Stacks whose halves did not pair up are counted (and kept as the Python half).
                std::smatch unpaired;
                if (std::regex_search(err, unpaired, std::regex(R"((\d+) --native stacks did not pair up)")))
                    CHECK(std::stol(unpaired[1]) <= native_total / 10);
            }
        }
    }
}

TEST_CASE("Python in a PID namespace: every thread by our id, with its threading name",
          "[python][namespaces]") {
    if (std::string why = namespaces_unavailable(); !why.empty()) {
        skip_test(why);
    }
    const std::set<std::string> names{"MainThread",           "py-plain",
                                      "py-with-vars",         "py-many-attributes",
                                      "py-deleted-attribute", "py-subclass"};
    std::vector<std::string> missing;
    // The thread id from glibc's struct pthread (2.7), and from the thread state (3.13: in every
    // build's list of interpreters).
    const auto interpreters = test_interpreters({"2.7", "3.13"}, missing);
    for (const std::string& label : missing)
        skip_part("no CPython " + label + " on this machine");
    for (const Interpreter& interpreter : interpreters) {
        DYNAMIC_SECTION(interpreter.label) {
            ContainedPython target(interpreter, "thread_names.py");
            REQUIRE(target.process.pid() != 0);
            std::set<std::string> listed;
            for (int attempt = 0; attempt < 5 && listed != names; ++attempt) {
                if (attempt > 0)
                    std::this_thread::sleep_for(500ms);
                CommandResult json = run_sampler({"dump", "--pid", target.pid(), "--json"});
                INFO(json.out << json.err);
                REQUIRE(json.exit_code == 0);
                listed.clear();
                const auto document = nlohmann::json::parse(json.out);
                for (const auto& thread : document["threads"]) {
                    listed.insert(thread["name"].get<std::string>());
                    const std::string task =
                        "/proc/" + target.pid() + "/task/" + std::to_string(thread["tid"].get<int>());
                    CHECK(std::filesystem::exists(task)); // our id, not the namespace's
                }
            }
            CHECK(listed == names);

            // The perf engine's reads of sleeping threads, and its names for them.
            std::string err;
            auto folded = record(target, "perf", {"-r", "50", "-d", "1", "--idle", "--threads"},
                                 "ns-names-" + interpreter.label, err);
            CHECK(thread_root_names(folded) == names);
        }
    }
}

// The reader against real interpreters: each CPython runs fixtures/known_stack.py, and the stacks
// python_stack_probe reads must equal what that interpreter reports about itself
// (sys._current_frames), name for name and line for line, on the threads the fixture names.
// A test whose interpreter is not installed is skipped with the reason, never failed.

#include "child_process.hpp"
#include "interpreters.hpp"
#include "probe_output.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <thread>
#include <unistd.h>

using namespace sampler::testing;

namespace {

const std::string fixture_dir = FIXTURE_DIR;
const std::string fixture = fixture_dir + "/known_stack.py";
const std::string unicode_fixture = fixture_dir + "/known_stack_unicode.py";

// The fixture, running until the test ends, and its report once it is ready.
class RunningFixture {
  public:
    explicit RunningFixture(const Interpreter& interpreter)
        : ready_(unique_temp_path("ready.txt")), log_(unique_temp_path("log.txt")),
          child_({interpreter.executable, fixture, ready_}, log_) {}
    ~RunningFixture() {
        ::unlink(ready_.c_str());
        ::unlink(log_.c_str());
    }

    // Waits (bounded) for the ready file; fails the test when the fixture dies or never gets there.
    FixtureReport wait_ready() {
        for (int i = 0; i < 12000 && !std::filesystem::exists(ready_); ++i) {
            if (!child_.running())
                FAIL("the fixture exited early:\n" << read_text_file(log_));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        REQUIRE(std::filesystem::exists(ready_));
        return parse_fixture_report(read_text_file(ready_));
    }
    int pid() const { return child_.pid(); }

  private:
    std::string ready_;
    std::string log_;
    Child child_;
};

ProbeOutput probe(int pid, const std::vector<std::string>& flags = {}) {
    std::vector<std::string> argv{PROBE_BINARY};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(std::to_string(pid));
    RunResult result = run_command(argv, std::chrono::seconds(60), true);
    INFO("probe output:\n" << result.out);
    REQUIRE(result.exit_code == 0);
    return parse_probe_output(result.out);
}

// Name, file and lines only: what CPython's own report has.
std::vector<ExpectedFrame> comparable(std::vector<ExpectedFrame> frames) {
    for (ExpectedFrame& frame : frames) {
        frame.is_entry = false;
        frame.valid = true;
    }
    return frames;
}

const ProbedThread& thread_of(const ProbeOutput& output, const FixtureReport& report,
                              const std::string& role) {
    auto tid = report.tids.find(role);
    REQUIRE(tid != report.tids.end());
    auto found = output.threads.find(tid->second);
    INFO("no thread with the " << role << " thread's tid " << tid->second);
    REQUIRE(found != output.threads.end());
    return found->second;
}

// The fixture's main thread, checked against the marked lines rather than CPython's report, so
// a wrong report (or a wrong comparison) cannot hide a wrong reader.
void check_main_thread_by_markers(const std::vector<ExpectedFrame>& frames, bool py3, bool qualnames) {
    INFO("main thread as read:\n" << describe(frames));
    std::vector<std::pair<std::string, std::string>> expected; // name, marker
    expected.push_back({"park_main", "park-main"});
    if (py3) {
        expected.push_back({"größe", "groesse"});
        expected.push_back({qualnames ? "main.<locals>.leaf" : "leaf", "leaf"});
    }
    expected.push_back({"recurse", "recurse-leaf"});
    for (int i = 0; i < 3; ++i)
        expected.push_back({"recurse", "recurse-call"});
    expected.push_back({qualnames ? "Walker.descend" : "descend", "descend"});
    expected.push_back({"main", "main-descend"});
    expected.push_back({"<module>", "module-main"});
    REQUIRE(frames.size() == expected.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        bool in_unicode_file = expected[i].second == "groesse";
        CHECK(frames[i].name == expected[i].first);
        CHECK(frames[i].file == (in_unicode_file ? unicode_fixture : fixture));
        CHECK(frames[i].line == marked_line(in_unicode_file ? unicode_fixture : fixture, expected[i].second));
        CHECK(frames[i].valid);
    }
}

// Every fixture thread is named as `threading` names it (the fixture's own report, and the names
// the fixture chose), which is not its OS name: proof the name was read from the interpreter.
void check_thread_names(const ProbeOutput& output, const FixtureReport& report, int pid, bool py3) {
    const std::map<std::string, std::string> chosen{{"main", "MainThread"},
                                                    {"blocker", py3 ? "py-blocker-\u00df" : "py-blocker"},
                                                    {"spinner", py3 ? "py-spinner-\u2603" : "py-spinner"}};
    for (const auto& [role, name] : chosen) {
        int tid = report.tids.at(role);
        INFO(role << " thread " << tid);
        CHECK(report.names.at(role) == name);
        auto found = output.names.find(tid);
        REQUIRE(found != output.names.end());
        CHECK(found->second == name);
        std::string os_name =
            read_text_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm");
        CHECK(os_name.substr(0, os_name.find('\n')) != name);
    }
}

void check_interpreter(const std::optional<Interpreter>& interpreter, const std::string& label) {
    if (!interpreter)
        skip_test("CPython " + label + " is not installed");
    INFO("interpreter " << interpreter->executable);
    RunningFixture running(*interpreter);
    FixtureReport report = running.wait_ready();
    REQUIRE(report.tids.size() == 3);

    ProbeOutput output = probe(running.pid());
    std::string minor = label.substr(label.find_first_of("0123456789"));
    CHECK(output.version.rfind(minor + ".", 0) == 0);
    CHECK(output.errors == 0);
    bool py3 = minor[0] == '3';
    bool qualnames = py3 && std::stoi(minor.substr(2)) >= 11;

    for (const std::string role : {"main", "blocker"}) {
        const ProbedThread& thread = thread_of(output, report, role);
        INFO(role << " thread, expected (CPython's view):\n"
                  << describe(report.frames[role]) << "read:\n"
                  << describe(thread.frames));
        CHECK(comparable(thread.frames) == report.frames[role]);
        CHECK_FALSE(thread.truncated);
    }
    check_main_thread_by_markers(thread_of(output, report, "main").frames, py3, qualnames);
    check_thread_names(output, report, running.pid(), py3);

    // The spinner moves between the lines of its loop; everything below its innermost frame is fixed.
    const ProbedThread& spinner = thread_of(output, report, "spinner");
    std::vector<ExpectedFrame> spinner_frames = comparable(spinner.frames);
    std::vector<ExpectedFrame> spinner_expected = report.frames["spinner"];
    INFO("spinner, expected:\n" << describe(spinner_expected) << "read:\n" << describe(spinner_frames));
    REQUIRE(spinner_frames.size() == spinner_expected.size());
    REQUIRE(!spinner_frames.empty());
    CHECK(spinner_frames[0].name == "spin");
    CHECK(spinner_frames[0].line > spinner_frames[0].first_line); // anywhere in its body
    CHECK(spinner_frames[0].line <= marked_line(fixture, "spin-last"));
    spinner_frames[0].line = spinner_expected[0].line;
    CHECK(spinner_frames == spinner_expected);

    // The spinner holds the GIL whenever nobody asks for it, and the sleepers never do once in
    // time.sleep. 2.7 still lets go every 100 bytecodes, and a sleeper may need a moment to get
    // from its sleep line into the call: look a few times rather than once (no clocks involved).
    auto gil_as_expected = [&](const ProbeOutput& probed) {
        return thread_of(probed, report, "spinner").holds_gil && probed.gil_tid == report.tids["spinner"] &&
               !thread_of(probed, report, "main").holds_gil &&
               !thread_of(probed, report, "blocker").holds_gil;
    };
    bool gil_ok = gil_as_expected(output);
    for (int attempt = 0; attempt < 20 && !gil_ok; ++attempt)
        gil_ok = gil_as_expected(probe(running.pid()));
    CHECK(gil_ok);

    // Stripped-binary paths: no symbol tables, then no .PyRuntime section either.
    for (const std::vector<std::string>& flags :
         {std::vector<std::string>{"--no-symbols"},
          std::vector<std::string>{"--no-symbols", "--no-sections"}}) {
        INFO("probe flags: " << flags.back());
        ProbeOutput stripped = probe(running.pid(), flags);
        CHECK(stripped.errors == 0);
        for (const std::string role : {"main", "blocker"})
            CHECK(comparable(thread_of(stripped, report, role).frames) == report.frames[role]);
        check_thread_names(stripped, report, running.pid(), py3);
    }
}

} // namespace

TEST_CASE("python 2.7 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("2.7"), "2.7");
}
TEST_CASE("python 3.6 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.6"), "3.6");
}
TEST_CASE("python 3.7 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.7"), "3.7");
}
TEST_CASE("python 3.8 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.8"), "3.8");
}
TEST_CASE("python 3.9 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.9"), "3.9");
}
TEST_CASE("python 3.10 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.10"), "3.10");
}
TEST_CASE("python 3.11 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.11"), "3.11");
}
TEST_CASE("python 3.12 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.12"), "3.12");
}
TEST_CASE("python 3.13 stacks", "[python][live]") {
    check_interpreter(find_pyenv_interpreter("3.13"), "3.13");
}
TEST_CASE("python debian 3.11 stacks", "[python][live]") {
    check_interpreter(find_debian_python311(), "debian-3.11");
}

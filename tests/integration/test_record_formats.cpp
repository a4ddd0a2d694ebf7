// `record -f pprof|speedscope|chrometrace`, the flame graph options, and the `flamegraph` and
// `diff` subcommands, through the real binary.
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace sampler::testing;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string shell_output(const std::string& command, int& status) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe)
        return out;
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        out.append(buffer, got);
    const int raw = ::pclose(pipe);
    status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return out;
}

// go from Debian's golang-go, installed when missing and root; empty reason when available.
std::string go_unavailable() {
    int status = 0;
    shell_output("command -v go", status);
    if (status == 0)
        return "";
    if (::geteuid() != 0)
        return "go not found and not root";
    const std::string log = shell_output(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go", status);
    shell_output("command -v go", status);
    return status == 0 ? "" : "apt-get install golang-go failed: " + log.substr(0, 300);
}

} // namespace

TEST_CASE("record -f pprof: go tool pprof sees our stack count and top function", "[record][pprof]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = temp_path("split.pb.gz");
    CommandResult result = run_sampler(
        {"record", "--pid", std::to_string(target.pid()), "-r", "200", "-d", "2", "-f", "pprof", "-o", out});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("wrote pprof profile to " + out) != std::string::npos);
    // "..., N stacks, ..." in the summary: the thread samples that went into the profile.
    const auto stacks_at = result.err.rfind(" stacks,");
    REQUIRE(stacks_at != std::string::npos);
    const std::string before = result.err.substr(0, stacks_at);
    const long stacks = std::stol(before.substr(before.rfind(' ') + 1));
    REQUIRE(stacks > 100);

    const std::string why = go_unavailable();
    if (!why.empty())
        skip_test("no go tool pprof check: " + why);
    int status = 0;
    const std::string top =
        shell_output("HOME=/tmp go tool pprof -top -sample_index=samples '" + out + "'", status);
    INFO(top);
    REQUIRE(status == 0);
    CHECK(top.find("of " + std::to_string(stacks) + " total") != std::string::npos);
    const auto header = top.find("flat%");
    REQUIRE(header != std::string::npos);
    const std::string first_row = top.substr(
        top.find('\n', header) + 1, top.find('\n', top.find('\n', header) + 1) - top.find('\n', header) - 1);
    CHECK(first_row.find("mix_step(unsigned long)") != std::string::npos);

    // The fixture's mapping carries its path and build-id; burn's location is at burn's entry
    // (its ELF symbol plus the load address: the fixture is PIE, its first segment at 0), and
    // burn's function starts on the line that defines it.
    const std::string raw = shell_output("HOME=/tmp go tool pprof -raw '" + out + "'", status);
    INFO(raw);
    REQUIRE(status == 0);
    const std::string fixture = fixture_path("workload");
    const std::string build_id =
        shell_output("readelf -n '" + fixture + "' | sed -n 's/.*Build ID: *//p' | tr -d '\\n'", status);
    REQUIRE(build_id.size() == 40);
    const std::string symbol =
        shell_output("nm '" + fixture + "' | sed -n 's/ T _Z4burnm$//p' | tr -d '\\n'", status);
    REQUIRE_FALSE(symbol.empty());
    auto line_with = [&](const std::string& needle) {
        const auto at = raw.find(needle);
        REQUIRE(at != std::string::npos);
        const auto begin = raw.rfind('\n', at) + 1;
        return raw.substr(begin, raw.find('\n', at) - begin);
    };
    const std::string mapping = line_with(" " + fixture + " ");
    CHECK(mapping.find(build_id) != std::string::npos);
    const std::uint64_t start = std::stoull(mapping.substr(mapping.find("0x")), nullptr, 16);
    const std::string location = line_with(" burn(unsigned long) ");
    const std::uint64_t address = std::stoull(location.substr(location.find("0x")), nullptr, 16);
    CHECK(address - start == std::stoull(symbol, nullptr, 16));
    const auto source_at = location.find('/');
    REQUIRE(source_at != std::string::npos);
    const std::string source = location.substr(source_at, location.find(':', source_at) - source_at);
    std::ifstream source_file(source);
    std::string text;
    int number = 0, definition = 0;
    while (definition == 0 && std::getline(source_file, text)) {
        ++number;
        if (text.find("std::uint64_t burn(std::uint64_t iterations) {") != std::string::npos)
            definition = number;
    }
    REQUIRE(definition != 0);
    CHECK(location.find(" s=" + std::to_string(definition)) != std::string::npos);
}

TEST_CASE("record -f speedscope and chrometrace get their extensions and a timeline", "[record][timeline]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string dir = temp_path("");
    for (const std::string format : {"speedscope", "chrometrace"}) {
        ChildProcess sampler({"/bin/sh", "-c",
                              "cd '" + dir + "' && exec " + sampler_binary() + " record -r 200 -d 1 -f " +
                                  format + " --pid " + std::to_string(target.pid())});
        REQUIRE(sampler.wait(30s) == 0);
        const std::string err = sampler.errors();
        const std::string extension = format == "speedscope" ? ".speedscope.json" : ".trace.json";
        const auto at = err.find("sampler-" + std::to_string(target.pid()) + "-");
        REQUIRE(at != std::string::npos);
        const std::string name = err.substr(at, err.find('\n', at) - at);
        INFO(err);
        CHECK(name.substr(name.size() - extension.size()) == extension);
        const json document = json::parse(read_file(dir + name));
        if (format == "speedscope") {
            REQUIRE(document["profiles"].size() >= 1);
            CHECK(document["profiles"][0]["samples"].size() > 50);
            CHECK(document["profiles"][0]["name"].get<std::string>().rfind("thread ", 0) == 0);
        } else {
            std::size_t begins = 0, ends = 0;
            for (const json& event : document["traceEvents"]) {
                begins += event["ph"] == "B";
                ends += event["ph"] == "E";
            }
            CHECK(begins > 0);
            CHECK(begins == ends);
        }
    }
}

TEST_CASE("record passes --inverted and --minwidth to the flame graph", "[record][svg]") {
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string out = temp_path("inverted.svg");
    CommandResult result = run_sampler({"record", "--pid", std::to_string(target.pid()), "-d", "1",
                                        "--inverted", "--minwidth", "1000", "-o", out});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const std::string svg = read_file(out);
    // 1000 px of 1180 leaves the root and frames on (nearly) every stack; the 25% caller goes.
    CHECK(svg.find("data-name=\"all\"") != std::string::npos);
    CHECK(svg.find("data-name=\"parent_light()\"") == std::string::npos);
}

TEST_CASE("sampler flamegraph renders a folded file, counting malformed lines", "[flamegraph-command]") {
    const std::string input = temp_path("perf.folded");
    write_text(input, "app;main;work 5\napp;main;read_[k] 2\nthis line is broken\n\napp;main;x y z\n");
    const std::string out = temp_path("perf.svg");
    CommandResult result =
        run_sampler({"flamegraph", input, "-o", out, "--title", "T<1>", "--minwidth", "0"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("skipped 2 malformed lines (first: line 3)") != std::string::npos);
    const std::string svg = read_file(out);
    CHECK(svg.find(">T&lt;1&gt;</text>") != std::string::npos);
    CHECK(svg.find("data-name=\"read_[k]\" data-samples=\"2\"") != std::string::npos);

    // '-' reads stdin; without -o the SVG goes to stdout.
    int status = 0;
    const std::string piped =
        shell_output("printf 'a;b 3\\n' | " + sampler_binary() + " flamegraph - --inverted", status);
    CHECK(status == 0);
    CHECK(piped.find("data-name=\"b\" data-samples=\"3\"") != std::string::npos);

    CommandResult missing = run_sampler({"flamegraph", temp_path("does-not-exist.folded")});
    CHECK(missing.exit_code == 7);
}

TEST_CASE("sampler diff writes a differential flame graph", "[diff-command]") {
    const std::string before = temp_path("before.folded");
    const std::string after = temp_path("after.folded");
    write_text(before, "main;fast 1\nmain;slow 3\n");
    write_text(after, "main;fast 3\nmain;slow 1\nnot a stack\n");
    const std::string out = temp_path("diff.svg");
    CommandResult result = run_sampler({"diff", before, after, "-o", out});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.err.find("skipped 1 malformed line") != std::string::npos);
    const std::string svg = read_file(out);
    CHECK(svg.find("fast (after 3 samples, 75.00%; before 1 samples, 25.00%)") != std::string::npos);
    CHECK(svg.find("slow (after 1 samples, 25.00%; before 3 samples, 75.00%)") != std::string::npos);
}

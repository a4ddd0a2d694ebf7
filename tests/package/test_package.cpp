// The packages scripts/package.sh makes of the self-contained build: the binary needs nothing
// but glibc, works with an empty environment from a directory holding nothing else, and the .deb
// installs into a scratch root.

#include "interpreters.hpp"
#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>

using namespace sampler::testing;
namespace fs = std::filesystem;

namespace {

CommandResult run(const std::vector<std::string>& argv) {
    return run_command(argv, std::chrono::seconds(120));
}

// A directory of our temporary one, removed with what it holds when the object goes away.
class ScratchDir {
  public:
    explicit ScratchDir(const std::string& name) : path_(temp_path(name)) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// The packages, made once for the whole test process.
struct Packages {
    std::string tarball;
    std::string deb;
    std::string report; // what package.sh printed
};

const Packages& packages() {
    static const ScratchDir dir("packages");
    static const Packages made = [] {
        Packages p;
        CommandResult result = run(
            {source_path("scripts/package.sh"), "--no-build", "--build-dir", BUILD_DIR, "--out", dir.path()});
        INFO(result.out << result.err);
        REQUIRE(result.exit_code == 0);
        p.report = result.out;
        for (const auto& entry : fs::directory_iterator(dir.path())) {
            const std::string path = entry.path().string();
            if (path.ends_with(".tar.gz"))
                p.tarball = path;
            else if (path.ends_with(".deb"))
                p.deb = path;
        }
        REQUIRE(!p.tarball.empty());
        REQUIRE(!p.deb.empty());
        return p;
    }();
    return made;
}

// The packaged binary alone in an empty directory: `dir()/sampler`.
class LoneBinary {
  public:
    LoneBinary() {
        REQUIRE(run({"/usr/bin/tar", "-xzf", packages().tarball, "-C", unpacked_.path()}).exit_code == 0);
        for (const auto& entry : fs::recursive_directory_iterator(unpacked_.path()))
            if (entry.path().filename() == "sampler")
                fs::copy_file(entry.path(), alone_.path() + "/sampler");
        REQUIRE(fs::exists(alone_.path() + "/sampler"));
    }
    const std::string& dir() const { return alone_.path(); }

  private:
    ScratchDir unpacked_{"unpacked"};
    ScratchDir alone_{"alone"};
};

// `./sampler ARGS` run from `dir` with no environment at all (no PATH, HOME, TERM).
CommandResult run_alone(const std::string& dir, std::vector<std::string> arguments) {
    std::vector<std::string> argv{"/usr/bin/env", "-i", "-C", dir, "./sampler"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run(argv);
}

} // namespace

TEST_CASE("the packaged binary needs only glibc's own libraries", "[package]") {
    const LoneBinary binary;
    const std::string& dir = binary.dir();
    CommandResult ldd = run({"/usr/bin/ldd", dir + "/sampler"});
    INFO(ldd.out << ldd.err);
    REQUIRE(ldd.exit_code == 0);
    std::set<std::string> libraries;
    std::istringstream lines(ldd.out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string first;
        words >> first;
        if (!first.empty())
            libraries.insert(first);
    }
    const std::set<std::string> glibc{"linux-vdso.so.1", "libc.so.6", "libm.so.6",
                                      "/lib64/ld-linux-x86-64.so.2"};
    for (const std::string& library : libraries)
        CHECK(glibc.contains(library));
    CHECK(libraries.contains("libc.so.6"));
    // The report names the glibc floor and the size.
    CHECK(std::regex_search(packages().report, std::regex(R"(needs glibc 2\.\d+ or newer)")));

    CommandResult version = run_alone(dir, {"--version"});
    INFO(version.out << version.err);
    CHECK(version.exit_code == 0);
    CHECK(std::regex_search(version.out, std::regex(R"(^sampler \d+\.\d+\.\d+ \(git [0-9a-f]+)")));
    CHECK(version.out.find("perf_event") != std::string::npos);
    CHECK(version.out.find("ptrace") != std::string::npos);
    CHECK(version.out.find("self-contained") != std::string::npos);
}

TEST_CASE("the packaged binary, with an empty environment, dumps and records a native target", "[package]") {
    const LoneBinary binary;
    const std::string& dir = binary.dir();
    ChildProcess target({fixture_path("workload"), "split"});
    wait_until_started(target);
    const std::string pid = std::to_string(target.pid());

    CommandResult dump = run_alone(dir, {"dump", "--pid", pid});
    INFO(dump.out << dump.err);
    REQUIRE(dump.exit_code == 0);
    CHECK(dump.out.find("run_split_forever()") != std::string::npos); // on the stack at every instant

    CommandResult record =
        run_alone(dir, {"record", "--pid", pid, "-d", "2", "-r", "200", "-f", "folded", "-o", "-"});
    INFO(record.err);
    REQUIRE(record.exit_code == 0);
    const auto folded = parse_folded(record.out);
    CHECK(total_samples(folded) > 100);
    CHECK(samples_matching(folded, "burn") > total_samples(folded) / 2);

    // top --once with TERM unset: plain text, no terminal database needed.
    CommandResult top = run_alone(dir, {"top", "--once", "--pid", pid});
    INFO(top.out << top.err);
    REQUIRE(top.exit_code == 0);
    CHECK(top.out.find("burn") != std::string::npos);
}

TEST_CASE("the packaged binary, with an empty environment, dumps and records a Python target", "[package]") {
    std::vector<std::string> missing;
    const auto pythons = test_interpreters({"3.12", "3.11", "3.13", "debian-3.11"}, missing);
    if (pythons.empty())
        skip_test("no CPython 3.11-3.13 on this machine (pyenv or Debian's python3.11)");
    const LoneBinary binary;
    const std::string& dir = binary.dir();
    ChildProcess target({pythons.front().executable, source_path("tests/fixtures/python_bench/workload.py"),
                         "100000000", "--depth", "5"});
    REQUIRE(wait_for_output(target, "ready", std::chrono::seconds(30)));
    const std::string pid = std::to_string(target.pid());

    CommandResult dump = run_alone(dir, {"dump", "--pid", pid});
    INFO(pythons.front().label << "\n" << dump.out << dump.err);
    REQUIRE(dump.exit_code == 0);
    CHECK(dump.out.find("recurse") != std::string::npos);

    CommandResult record = run_alone(
        dir, {"record", "--native", "--pid", pid, "-d", "2", "-r", "200", "-f", "folded", "-o", "-"});
    INFO(record.err);
    REQUIRE(record.exit_code == 0);
    const auto folded = parse_folded(record.out);
    CHECK(total_samples(folded) > 100);
    CHECK(samples_matching(folded, "one_round") > total_samples(folded) / 2);
    // Native frames merged in: the json accelerator's C functions (Debian's python3.11 is stripped).
    if (pythons.front().label != "debian-3.11")
        CHECK(samples_matching(folded, "encoder_") > 0);
}

TEST_CASE("the .deb installs into a scratch root, and its binary and man page are there", "[package]") {
    const ScratchDir scratch("deb-root");
    const std::string& root = scratch.path();
    fs::create_directories(root + "/var/lib/dpkg/info");
    fs::create_directories(root + "/var/lib/dpkg/updates");
    write_text(root + "/var/lib/dpkg/status", "");
    // libc6 is not installed in the scratch root (the host's is what the binary runs on):
    // --force-depends lets dpkg record the package anyway.
    CommandResult install = run({"/usr/bin/dpkg", "--root=" + root, "--force-depends", "-i", packages().deb});
    INFO(install.out << install.err);
    REQUIRE(install.exit_code == 0);
    CommandResult listed = run({"/usr/bin/dpkg", "--root=" + root, "-L", "sampler"});
    CHECK(listed.out.find("/usr/bin/sampler") != std::string::npos);
    CHECK(listed.out.find("/usr/share/man/man1/sampler.1.gz") != std::string::npos);

    CommandResult version = run({"/usr/bin/env", "-i", root + "/usr/bin/sampler", "--version"});
    INFO(version.out << version.err);
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("sampler ", 0) == 0);

    // The man page lists every command and a flag of each.
    CommandResult man = run({"/bin/sh", "-c", "gzip -dc " + root + "/usr/share/man/man1/sampler.1.gz"});
    REQUIRE(man.exit_code == 0);
    for (const char* expected : {".SS record", ".SS dump", ".SS top", ".SS flamegraph", ".SS diff",
                                 "\\-\\-pid", "\\-\\-native", "\\-\\-max\\-depth", "\\-\\-minwidth"})
        CHECK(man.out.find(expected) != std::string::npos);
}

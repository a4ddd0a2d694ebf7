#include "skip_record.hpp"
#include "skips.hpp"

// Declares Catch's listener and reporter types, which a test file does not need.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <unistd.h>

namespace sampler::testing {
namespace {

struct SkippedCase {
    bool whole; // nothing was checked: the test case did not run at all
    std::string name;
    std::string reason;
};

struct RunSkips {
    std::vector<SkippedCase> skipped;
    int cases_run = 0; // test cases that checked something and were not wholly skipped
};

RunSkips& run_skips() {
    static RunSkips run;
    return run;
}

// One line per entry for scripts/test.sh to list: a test whose process exits 0 is "Passed" for
// CTest, so a part it left out (or, in a run of many test cases, a whole one) would go unseen.
void append_to_skip_log(const SkippedCase& entry) {
    const char* path = std::getenv("SAMPLER_SKIP_LOG");
    if (!path || !*path)
        return;
    std::string line = std::string(entry.whole ? "skipped" : "partly skipped") + "\t" + entry.name + "\t";
    for (char c : entry.reason)
        line += (c == '\n' || c == '\t') ? ' ' : c;
    line += '\n';
    // One write() in append mode: test processes that run at once do not interleave their lines.
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    [[maybe_unused]] ssize_t written = ::write(fd, line.data(), line.size());
    ::close(fd);
}

class SkipListener : public Catch::TestEventListenerBase {
  public:
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        TestEventListenerBase::testCaseStarting(info);
        skip_reasons().clear();
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        TestEventListenerBase::testCaseEnded(stats);
        const bool whole = stats.totals.assertions.total() == 0;
        if (skip_reasons().empty() || !whole)
            ++run_skips().cases_run;
        for (const std::string& reason : skip_reasons()) {
            std::cout << (whole ? "SKIPPED: " : "PARTLY SKIPPED: ") << stats.testInfo.name << ": " << reason
                      << std::endl;
            run_skips().skipped.push_back({whole, stats.testInfo.name, reason});
        }
    }
};

CATCH_REGISTER_LISTENER(SkipListener)

} // namespace

int skip_exit_status(int failed) {
    const RunSkips& run = run_skips();
    if (failed != 0)
        return failed;
    if (!run.skipped.empty() && run.cases_run == 0)
        return skip_exit_code; // CTest lists it as skipped, with the SKIPPED lines in its output
    for (const SkippedCase& entry : run.skipped)
        append_to_skip_log(entry);
    return 0;
}

} // namespace sampler::testing

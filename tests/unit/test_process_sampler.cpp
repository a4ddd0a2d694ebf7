// ProcessSampler on a process that ends under it: its last maps stand for the samples it left
// (ModuleMap::refresh), so a round over a process that is gone says so, and the session drops it
// before its pid can be another process's.
#include "process_sampler.hpp"
#include "sampler/error.hpp"
#include "test_children.hpp"

#include <catch2/catch.hpp>

using namespace sampler;

TEST_CASE("a round over a process that has exited and been reaped is an error saying it exited") {
    const pid_t child = fork_paused_child();
    REQUIRE(child > 0);
    const ChildReaper reaper{child};
    ProcessSampler sampler(child, StackOptions{});
    SessionReport report;
    // Alive and asleep: a round takes no stack (no thread runs), and is no error.
    CHECK(sampler.sample(false, report).empty());

    ::kill(child, SIGKILL);
    REQUIRE(::waitpid(child, nullptr, 0) == child);
    try {
        sampler.sample(false, report);
        FAIL("a round over a reaped process passed");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::no_such_process);
    }
}

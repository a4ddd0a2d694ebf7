// run_for_command_status: a launched command that ended before sampling began ends sampler with
// the command's own status, whatever the error its end caused; a command that runs on leaves the
// error standing.
#include "sampler/error.hpp"
#include "target.hpp"
#include "test_children.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace sampler;

namespace {

// A child that exits with `code` at once, left unreaped (a zombie) for the code under test.
int zombie_child(int code) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        ::_exit(code);
    siginfo_t info{};
    // WNOWAIT: wait for the exit but leave the zombie.
    REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);
    return pid;
}

int status_after(int pid, ErrorKind kind) {
    return run_for_command_status([&](int& launched_pid) -> int {
        launched_pid = pid;
        throw Error(kind, "attach failed");
    });
}

} // namespace

TEST_CASE("a command found ended gives its status for every error its end caused", "[command]") {
    // ESRCH once it is gone, EPERM from ptrace's attach while it is a zombie.
    for (ErrorKind kind : {ErrorKind::no_such_process, ErrorKind::permission, ErrorKind::io}) {
        const int pid = zombie_child(42);
        const ChildReaper reaper{pid};
        INFO("error kind " << static_cast<int>(kind));
        CHECK(status_after(pid, kind) == 42);
        CHECK(::waitpid(pid, nullptr, WNOHANG) == -1); // reaped
    }
}

TEST_CASE("a command that runs on leaves a permission error standing", "[command]") {
    const pid_t pid = fork_paused_child();
    REQUIRE(pid > 0);
    const ChildReaper reaper{pid};
    try {
        status_after(pid, ErrorKind::permission);
        FAIL("the error was swallowed");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::permission);
    }
}

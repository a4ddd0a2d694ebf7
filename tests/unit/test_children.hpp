#pragma once
// Child processes of a test, and their reaping at the end of the test, however it ends.

#include <csignal>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// Reaps a test's child when the test ends, whether or not the code under test did. Killed only
// while it runs: until reaped its pid cannot be another process's.
struct ChildReaper {
    pid_t pid;
    ~ChildReaper() {
        if (::waitpid(pid, nullptr, WNOHANG) != 0)
            return; // reaped now, or before
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

// A fork of the test that waits for a signal (this process's code at the same addresses);
// -1 when fork failed.
inline pid_t fork_paused_child() {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::pause();
        ::_exit(0);
    }
    return pid;
}

#pragma once
// Driving a full-screen view (`sampler top`) as a person would: a private tmux server runs it,
// keys are sent to it and its screen captured. The server is killed when the test ends, pass or
// fail.

#include "process_helpers.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace sampler::testing {

inline std::string find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(std::string(path ? path : "") + ":/usr/local/bin:/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');)
        if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0)
            return dir + "/" + name;
    return "";
}

// A private tmux server (its own socket), killed when the test ends, pass or fail.
class TmuxServer {
  public:
    explicit TmuxServer(std::string tmux)
        : tmux_(std::move(tmux)), socket_("sampler-test-" + std::to_string(::getpid())) {}
    ~TmuxServer() {
        // tmux 3.3 leaves its socket file behind when the server is killed: remove it too.
        std::string socket_path = run({"display-message", "-p", "#{socket_path}"}).out;
        // Each pane's command leads a process group of its own. The server's end hangs them up;
        // one that outlives that (a sanitizer build's leak check was once seen to hang at exit,
        // spinning a CPU for the rest of the run) is killed, group and all.
        std::istringstream panes(run({"list-panes", "-a", "-F", "#{pane_dead} #{pane_pid}"}).out);
        run({"kill-server"});
        if (!socket_path.empty() && socket_path.back() == '\n')
            socket_path.pop_back();
        if (!socket_path.empty())
            ::unlink(socket_path.c_str());
        // (A dead pane's pid is one tmux reaped already, maybe reused since: left alone.)
        int dead = 0;
        for (pid_t pane = 0; panes >> dead >> pane;)
            if (!dead && pane > 1)
                end_process_group(pane);
    }
    TmuxServer(const TmuxServer&) = delete;
    TmuxServer& operator=(const TmuxServer&) = delete;

    CommandResult run(const std::vector<std::string>& arguments) const {
        std::vector<std::string> argv{tmux_, "-L", socket_};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        ChildProcess child(argv);
        CommandResult result;
        result.exit_code = child.wait(std::chrono::seconds(10));
        result.out = child.output();
        result.err = child.errors();
        return result;
    }
    std::string capture(const std::string& session) const {
        return run({"capture-pane", "-p", "-t", session}).out;
    }
    // A key tmux could not deliver fails the test there, with tmux's reason.
    void send_keys(const std::string& session, const std::string& keys) const {
        CommandResult sent = run({"send-keys", "-t", session, keys});
        INFO("tmux send-keys " << keys << ": " << sent.err);
        CHECK(sent.exit_code == 0);
    }
    // Captures the pane until `done(screen)`, for at most `timeout`; returns the last capture.
    template <class Predicate>
    std::string wait_for(const std::string& session, Predicate done,
                         std::chrono::seconds timeout = std::chrono::seconds(20)) const {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string screen = capture(session);
        while (!done(screen) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            screen = capture(session);
        }
        return screen;
    }

  private:
    // Not our children (tmux's): they cannot be reaped here, only waited out and killed.
    static void end_process_group(pid_t leader) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (::kill(-leader, 0) == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(-leader, SIGKILL);
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    std::string tmux_;
    std::string socket_;
};

// Removes a file when the test ends, pass or fail.
struct RemovedAtEnd {
    std::string path;
    ~RemovedAtEnd() { ::unlink(path.c_str()); }
};

// A command for a pane that runs `command` and then writes its exit code to `exit_file`: tmux
// itself cannot be relied on for it (its libutempter can swallow the SIGCHLD, leaving
// #{pane_dead_status} empty).
inline std::string recording_exit_code(const std::string& command, const std::string& exit_file) {
    return command + "; echo $? > " + exit_file;
}

// tmux's path; the test is skipped when it is not installed.
inline std::string tmux_or_skip() {
    std::string tmux = find_program("tmux");
    if (tmux.empty())
        skip_test("tmux is not installed (scripts/install-deps.sh installs it)");
    return tmux;
}

// A detached `width` x `height` session running `command` (a shell line) whose exit code goes to
// `exit_file`; the pane stays after it exits (remain-on-exit), so it can still be captured.
inline void start_session(const TmuxServer& tmux, const std::string& session, int width, int height,
                          const std::string& command, const std::string& exit_file) {
    CommandResult started = tmux.run({"new-session", "-d", "-s", session, "-x", std::to_string(width), "-y",
                                      std::to_string(height), recording_exit_code(command, exit_file), ";",
                                      "set-option", "-t", session, "remain-on-exit", "on"});
    INFO("tmux: " << started.err);
    REQUIRE(started.exit_code == 0);
}

// The exit code recording_exit_code() wrote ("0\n"), waiting for it at most `timeout`; empty
// when the command has not ended. A test checks the target only after this: until sampler has
// exited, the ptrace engine may hold a thread stopped for the sample it is taking.
inline std::string wait_for_exit_code(const std::string& exit_file,
                                      std::chrono::seconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string code = read_file(exit_file);
    while (code.empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        code = read_file(exit_file);
    }
    return code;
}

} // namespace sampler::testing

// `sampler top`: a live table of where the target's CPU time goes, full-screen on a terminal,
// plain-text snapshots otherwise.
#include "commands.hpp"
#include "sampler/error.hpp"

#include "output_file.hpp"
#include "proc_threads.hpp"
#include "sampling_session.hpp"
#include "stall_watch.hpp"
#include "stop_signal.hpp"
#include "target.hpp"
#include "top_plain.hpp"
#include "top_screen.hpp"
#include "top_sink.hpp"

#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <unistd.h>

namespace sampler {
namespace {

// While it is alive, stdin, stdout and stderr are /dev/null, so that a command started now
// neither draws over the full-screen view nor competes with it for keys.
class QuietStdio {
  public:
    QuietStdio() {
        std::fflush(nullptr);
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd < 3; ++fd) {
            saved_[fd] = ::dup(fd);
            if (null >= 0)
                ::dup2(null, fd);
        }
        if (null >= 0)
            ::close(null);
    }
    ~QuietStdio() {
        for (int fd = 0; fd < 3; ++fd)
            if (saved_[fd] >= 0) {
                ::dup2(saved_[fd], fd);
                ::close(saved_[fd]);
            }
    }
    QuietStdio(const QuietStdio&) = delete;
    QuietStdio& operator=(const QuietStdio&) = delete;

  private:
    int saved_[3] = {-1, -1, -1};
};

std::vector<int> start_target(const TopOptions& options, bool interactive) {
    if (!options.target.pids.empty())
        return distinct_pids(options.target.pids);
    if (!interactive)
        return {launch_command(options.target.command)};
    QuietStdio quiet;
    return {launch_command(options.target.command)};
}

std::unique_ptr<TopDisplay> make_display(const TopOptions& options, bool interactive) {
    if (interactive) {
        // A host without the terminal's terminfo entry (a slim container, TERM unset) still gets
        // the counts, as the plain text a pipe would get.
        try {
            return std::make_unique<TopScreen>();
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::unsupported)
                throw;
            std::fprintf(stderr, "sampler: %s: plain-text snapshots instead of the full-screen view\n",
                         error.what());
        }
    }
    return std::make_unique<TopPlainText>(stdout, options.rows);
}

} // namespace

// `launched_pid`: set to the PID of the command it starts, if any.
static int top_with(const TopOptions& options, int& launched_pid) {
    install_stop_handlers(); // before the screen, so that ncurses leaves SIGINT/SIGTERM to us
    bool interactive = !options.once && ::isatty(STDOUT_FILENO);
    bool launched = options.target.pids.empty();
    SessionOptions session{.pids = start_target(options, interactive),
                           .target_is_child = launched,
                           .rate_hz = options.rate_hz,
                           .duration_seconds = 0,
                           .subprocesses = options.target.subprocesses,
                           .stacks = options.target.stacks,
                           .capture = options.target.capture};
    const int pid = session.main_pid();
    launched_pid = launched ? pid : 0;
    check_targets(session.pids, target_access(session));

    TopSettings settings{.pids = session.pids,
                         .command_line = target_command_line(pid, launched ? options.target.command
                                                                           : std::vector<std::string>{}),
                         .rate_hz = options.rate_hz,
                         .delay_seconds = options.delay_seconds,
                         .once = options.once,
                         .by_process = options.by_process,
                         .idle = options.target.stacks.include_idle};
    SessionReport report;
    int output_error = 0;
    {
        // The display's destructor restores the terminal on every way out of this block.
        std::unique_ptr<TopDisplay> display = make_display(options, interactive);
        TopSink sink(settings, *display);
        std::unique_ptr<StallWatch> stall_watch;
        if (options.stalls.asyncio)
            stall_watch = std::make_unique<StallWatch>(
                sink, StallWatchOptions{.threshold_ms = options.stalls.stall_threshold_ms,
                                        .rate_hz = options.rate_hz});
        sink.watch_stalls(stall_watch.get(), options.stalls.stall_threshold_ms);
        report = run_watched_session(session, stall_watch ? static_cast<SampleSink&>(*stall_watch) : sink,
                                     stall_watch.get());
        sink.finish(report);
        output_error = display->output_error();
    }
    if (output_error != 0) // the session has ended and let the target go
        throw write_error("to stdout", output_error);
    if (report.reason == StopReason::target_exited)
        std::fprintf(stderr, "sampler: %s exited after %.1f s (%llu samples)\n",
                     session.pids.size() == 1
                         ? ("process " + std::to_string(pid)).c_str()
                         : ("all " + std::to_string(session.pids.size()) + " processes").c_str(),
                     report.elapsed_seconds, static_cast<unsigned long long>(report.ticks));
    return launched ? command_exit_code(report.exit_status) : 0;
}

int run_top(const TopOptions& options) {
    return run_for_command_status([&](int& launched_pid) { return top_with(options, launched_pid); });
}

} // namespace sampler

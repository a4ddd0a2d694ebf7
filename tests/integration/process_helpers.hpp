#pragma once
// Starting, watching and always reaping the processes an integration test uses.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace sampler::testing {

std::string sampler_binary();
std::string fixture_path(const std::string& name);
std::string source_path(const std::string& relative);

// Where a child's stdout goes: a file output() reads, a full disk (/dev/full), or a pipe whose
// reader has gone (every write fails with EPIPE).
enum class ChildStdout { file, full_disk, closed_pipe };

// A child process, killed (SIGKILL) and reaped when the object goes away, whatever happened.
class ChildProcess {
  public:
    // Starts `argv`; stdout/stderr go to files read by output()/errors(). `drop_to_uid` >= 0
    // runs it as that user (tests of permission errors).
    explicit ChildProcess(const std::vector<std::string>& argv, int drop_to_uid = -1,
                          ChildStdout stdout_to = ChildStdout::file);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    int pid() const { return pid_; }
    void signal(int number) const;
    // Waits for the exit; returns the exit code (128+signal when killed), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);
    bool exited() const { return exited_; }
    std::string output() const;
    std::string errors() const;

  private:
    int pid_ = -1;
    bool exited_ = false;
    int exit_code_ = -1;
    std::string out_path_;
    std::string err_path_;
};

struct CommandResult {
    int exit_code = -1; // -1: timed out (and killed)
    std::string out;
    std::string err;
};

// Runs `argv` (argv[0] a path: no PATH search) and waits for it (killing it after `timeout`).
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Runs sampler with `arguments` and waits for it (killing it after `timeout`).
CommandResult run_sampler(const std::vector<std::string>& arguments,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Waits until the fixture has exec'd and is running its workload.
void wait_until_started(const ChildProcess& fixture);

char process_state(int pid); // from /proc/PID/stat; '?' when gone
int tracer_of(int pid);      // TracerPid
// Checks (CHECK) that the target runs or sleeps, untraced: sampler let it go.
void check_target_runs_on(int pid);
long cpu_ticks(int pid);                 // utime + stime
long thread_cpu_ticks(int pid, int tid); // the same for one thread
// Waits (at most `timeout`) until the process's stderr contains `text`; false when it did not.
bool wait_for_errors(const ChildProcess& process, const std::string& text, std::chrono::milliseconds timeout);
// The same for its stdout.
bool wait_for_output(const ChildProcess& process, const std::string& text, std::chrono::milliseconds timeout);
// Waits (at most `timeout`) until the process has run `ticks` more clock ticks of CPU: what a
// test needs for a number of on-CPU samples, however busy the machine is.
bool wait_for_cpu_ticks(int pid, long ticks, std::chrono::milliseconds timeout);
// The same for one thread's CPU time.
bool wait_for_thread_cpu_ticks(int pid, int tid, long ticks, std::chrono::milliseconds timeout);
std::string read_file(const std::string& path);
void write_text(const std::string& path, const std::string& text);
std::string temp_path(const std::string& name);

// Folded stacks parsed back: stack text -> count.
std::map<std::string, long> parse_folded(const std::string& text);
// Samples whose stack contains `needle`, and all samples.
long samples_matching(const std::map<std::string, long>& folded, const std::string& needle);
long total_samples(const std::map<std::string, long>& folded);
// Samples with a frame of function `name` itself: `name`, `name (file:line)`, or a part or
// clone the compiler split off it (`name.cold`, `name.part.0`); not its PLT stub (`name@plt`)
// nor another name that only contains it.
long samples_with_function(const std::map<std::string, long>& folded, const std::string& name);
// The names in the `thread TID (NAME)` root frames of stacks recorded with --threads.
std::set<std::string> thread_root_names(const std::map<std::string, long>& folded);

// The rows of the first process table of `top` (--by-process) in `text`, in order: the lines
// under its column titles that start with a PID.
std::vector<std::string> process_table_lines(const std::string& text);

// The line number of the first line of `file` containing `marker`.
int line_of_marker(const std::string& file, const std::string& marker);

} // namespace sampler::testing

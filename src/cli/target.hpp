#pragma once
// Choosing the process to profile: checks a PID (exists, not us, attachable) with errors that
// say what to do, or starts a command and hands back its PID.

#include <functional>
#include <string>
#include <vector>

namespace sampler {

// How the session will read the target: by stopping its threads (ptrace), or only by reading
// its memory while it runs (the perf_event engine, which a debugger already attached does not
// prevent).
enum class TargetAccess { stop_threads, read_memory };

// Throws sampler::Error with an explanation when `pid` cannot be profiled that way.
void check_target(int pid, TargetAccess access = TargetAccess::stop_threads);
// check_target on each of several targets (--pid A,B,C): the error names the one at fault.
void check_targets(const std::vector<int>& pids, TargetAccess access = TargetAccess::stop_threads);

// `pids` in the order given, each once (--pid 101,101 is one target).
std::vector<int> distinct_pids(const std::vector<int>& pids);

struct SessionOptions;
// How a session with these options will read its target: the perf_event engine when it is
// chosen and the kernel allows it on the target (it may still fall back later), else ptrace.
// With --capture perf, throws when the kernel refuses it.
TargetAccess target_access(const SessionOptions& session);

// Starts `command` (argv[0] looked up in PATH) and returns its PID once exec succeeded and the
// kernel has mapped the program (its maps then name it).
int launch_command(const std::vector<std::string>& command);

// The command line a target is named by: the command as given when we started it (`launched`;
// a short one can end before /proc is read), else /proc's.
std::string target_command_line(int pid, const std::vector<std::string>& launched);

// What a command we started ended with (its wait status; -1: it had not ended when sampling
// did), told on stderr when it failed. sampler's exit code is then the command's, as perf's and
// time's are: its exit status, or 128 + the signal that killed it; 0 when it exited 0 or runs on.
int command_exit_code(int wait_status);

// Runs a `record` or `top` (`run`, which sets its argument to the PID of the command it starts,
// if any). A command found gone before sampling began (an error of a check or of the session's
// start: no such process) ends it with the command's status (command_exit_code), after a line
// saying nothing was recorded; while the command has not ended, the error stands. Any error
// counts once the command has ended: ptrace's attach to a zombie says "no permission".
int run_for_command_status(const std::function<int(int& launched_pid)>& run);

// Explains why ptrace was refused on `pid` (permissions, Yama, capabilities, containers).
std::string explain_ptrace_denied(int pid);

} // namespace sampler

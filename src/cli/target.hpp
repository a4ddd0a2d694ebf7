#pragma once
// Choosing the process to profile: checks a PID (exists, not us, attachable) with errors that
// say what to do, or starts a command and hands back its PID.

#include <string>
#include <vector>

namespace sampler {

// Throws sampler::Error with an explanation when `pid` cannot be profiled.
void check_target(int pid);

// Starts `command` (argv[0] looked up in PATH) and returns its PID once exec succeeded.
int launch_command(const std::vector<std::string>& command);

// Explains why ptrace was refused on `pid` (permissions, Yama, capabilities, containers).
std::string explain_ptrace_denied(int pid);

} // namespace sampler

#pragma once
// Capability sets of processes, read from /proc, for errors that name what is missing: being
// root is not enough when a container or a parent dropped capabilities.

#include <cstdint>
#include <string>

namespace sampler {

constexpr int cap_sys_ptrace = 19;

// `field` ("CapEff", "CapPrm") of /proc/`process`/status, `process` a PID or "self"; 0 when
// unreadable.
std::uint64_t capability_set(const std::string& process, const std::string& field);

// "CAP_SYS_RESOURCE, CAP_BPF" (a number for a capability newer than this list).
std::string capability_names(std::uint64_t set);

} // namespace sampler

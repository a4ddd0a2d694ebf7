#pragma once
// Where the running kernel keeps a task's pid and tgid in its task_struct, read from the
// kernel's BTF (/sys/kernel/btf/vmlinux): the fork follower (bpf/python_walk.bpf.c) reads both
// of a new task to tell a new process from a new thread. Found here, by name, rather than by
// libbpf's CO-RE relocations: an object with those will not load at all on a kernel without
// BTF, and the Python walker must load there too.

#include <cstdint>
#include <optional>

struct btf;

namespace sampler {

struct TaskFields {
    std::uint32_t pid = 0; // byte offsets in task_struct
    std::uint32_t tgid = 0;
};

// In `types` (a kernel's BTF): task_struct's `pid` and `tgid`, 4-byte members at whole-byte
// offsets (also inside anonymous structs and unions, as a randomized layout has them).
// nullopt when either is missing or is not such a member.
std::optional<TaskFields> find_task_fields(const btf* types);

// The running kernel's, or nullopt without its BTF.
std::optional<TaskFields> running_kernel_task_fields();

} // namespace sampler

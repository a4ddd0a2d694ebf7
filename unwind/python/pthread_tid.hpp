#pragma once
// The OS thread id of a thread given its pthread_t, read from glibc's `struct pthread` in the
// target. Needed before CPython 3.11, whose thread states record only the pthread_t.

#include "remote_memory.hpp"

#include <cstdint>

namespace sampler::python {

// glibc 2.36 x86-64 (Debian 12): `struct pthread` begins with its TCB header, whose `tcb`
// (offset 0) and `self` (offset 16) both point to the struct itself; `tid` is at 720.
struct PthreadLayout {
    int tcb = 0;
    int self = 16;
    int tid = 720;
};

// True when `pthread` points at a glibc thread descriptor (its TCB header points to itself).
bool looks_like_pthread(const RemoteMemory& memory, std::uint64_t pthread, const PthreadLayout& layout = {});

// The tid, or 0 when `pthread` does not look like a live glibc thread descriptor.
int tid_from_pthread(const RemoteMemory& memory, std::uint64_t pthread, const PthreadLayout& layout = {});

} // namespace sampler::python

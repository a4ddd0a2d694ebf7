#pragma once
// Stops one thread with ptrace, copies its registers and stack, and lets it run again.

#include "process_maps.hpp"
#include "thread_snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace sampler {

enum class CaptureStatus {
    ok,
    thread_gone,   // exited before or while we stopped it
    not_permitted, // ptrace refused (permissions, or another tracer holds it)
    failed,        // ptrace or memory copy failed for another reason
};

struct CaptureLimits {
    // 0: registers only, no stack copy (enough when only interpreter frames are wanted).
    std::size_t max_stack_bytes = 64 * 1024;
    // The target's maps, to end the copy at the end of the stack's mapping; may be null.
    const ProcessMaps* maps = nullptr;
    // How long to wait for the thread to stop. A runnable thread stops when it next gets a CPU,
    // which on a busy machine can take longer than a sampler wants to wait.
    std::uint64_t stop_wait_nanoseconds = 50'000'000;
};

// Captures thread `tid`. The thread is resumed before this returns on every path, except when it
// does not reach a ptrace stop within a bounded wait (e.g. stuck in the kernel): then it stays
// seized until it stops, and `detach_lingering_threads` lets it go.
//
// `while_stopped`, when given, runs after the copy and before the thread is let go: for reading
// other memory that must be consistent with the stack (an interpreter's frames). It must only
// copy memory; everything else belongs after the thread runs again.
CaptureStatus capture_thread(int tid, const CaptureLimits& limits, ThreadSnapshot& out,
                             const std::function<void()>& while_stopped = {});

// Detaches threads whose stop arrived after capture_thread gave up waiting. Call it regularly.
void detach_lingering_threads();

// Errno of the last refused ptrace attach, for diagnostics.
int last_attach_errno();

// A command sampler started is its child and, while captured, its tracee too: a wait above for
// one of its stops can reap its exit instead. Its wait status is then kept for
// reap_exited_child, once keep_exit_of(pid) was called.
void keep_exit_of(int pid);
// The wait status of our child `pid` once it has exited (reaped now, or by a wait above);
// nullopt while it runs (a ptrace stop is not an exit, and is left for whoever waits for it).
std::optional<int> reap_exited_child(int pid);

} // namespace sampler

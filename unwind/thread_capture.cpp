#include "thread_capture.hpp"

#include "sampler/clock.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <map>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace sampler {
namespace {

int g_last_attach_errno = 0;
std::vector<int> g_lingering; // seized threads that had not stopped when we gave up waiting
// Children whose exit is kept (keep_exit_of): their wait status once reaped.
std::map<int, std::optional<int>> g_kept_exits;

// A wait below reaped `tid`'s exit (`status`): kept when it is a child sampler waits for.
void note_reaped(int tid, int status) {
    if (auto kept = g_kept_exits.find(tid); kept != g_kept_exits.end())
        kept->second = status;
}

enum class StopResult { stopped, exited, timed_out };

void on_wait_timer(int) {
    // Only interrupts a blocking waitpid (installed without SA_RESTART).
}

// A repeating interval timer for the duration of one wait: its SIGALRM makes a blocked waitpid
// return EINTR, so a thread that never stops (stuck in the kernel) cannot hang the profiler.
// Repeating, because a single expiry just before waitpid blocks would be lost.
class WaitTimer {
  public:
    WaitTimer() {
        static const bool installed = [] {
            struct sigaction action {};
            action.sa_handler = on_wait_timer;
            sigemptyset(&action.sa_mask);
            action.sa_flags = 0;
            return sigaction(SIGALRM, &action, nullptr) == 0;
        }();
        (void)installed;
        itimerval every_10ms{{0, 10'000}, {0, 10'000}};
        setitimer(ITIMER_REAL, &every_10ms, nullptr);
    }
    ~WaitTimer() {
        itimerval off{};
        setitimer(ITIMER_REAL, &off, nullptr);
    }
    WaitTimer(const WaitTimer&) = delete;
    WaitTimer& operator=(const WaitTimer&) = delete;
};

// Reads one wait status for `tid`: 1 stopped, 0 nothing yet, -1 exited or gone.
int check_stop(int tid, int flags, int& pending_signal) {
    int status = 0;
    pid_t got = ::waitpid(tid, &status, __WALL | flags);
    if (got == tid) {
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            note_reaped(tid, status);
            return -1;
        }
        if (WIFSTOPPED(status)) {
            int event = status >> 16;
            int signal = WSTOPSIG(status);
            if (event == 0 && signal != SIGTRAP)
                pending_signal = signal;
            return 1;
        }
        return 0;
    }
    return got < 0 && errno != EINTR ? -1 : 0;
}

// Waits for the seized thread to report a stop. A signal that arrives meanwhile shows up as a
// signal-delivery stop: we keep it and hand it back on detach so the target still receives it.
StopResult wait_for_stop(int tid, std::uint64_t give_up_after, int& pending_signal) {
    // First poll while keeping our CPU, yielding it only to whoever is queued on it (the thread
    // itself, if it shares our CPU): once we block, a busy machine may take milliseconds to run
    // us again, and the thread would stay stopped all that time.
    for (int spin = 0; spin < 64; ++spin) {
        int result = check_stop(tid, WNOHANG, pending_signal);
        if (result != 0)
            return result > 0 ? StopResult::stopped : StopResult::exited;
        sched_yield();
    }
    const std::uint64_t started = monotonic_ns();
    WaitTimer timer;
    for (;;) {
        int result = check_stop(tid, 0, pending_signal);
        if (result != 0)
            return result > 0 ? StopResult::stopped : StopResult::exited;
        if (monotonic_ns() - started > give_up_after)
            return StopResult::timed_out;
    }
}

// A thread in a ptrace stop, detached (with any signal it was about to receive) on destruction.
class StoppedThread {
  public:
    StoppedThread(int tid, int pending_signal) : tid_(tid), pending_signal_(pending_signal) {}
    ~StoppedThread() {
        ::ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(pending_signal_)));
    }
    StoppedThread(const StoppedThread&) = delete;
    StoppedThread& operator=(const StoppedThread&) = delete;

  private:
    int tid_;
    int pending_signal_;
};

void copy_stack(int tid, const CaptureLimits& limits, ThreadSnapshot& out) {
    std::uint64_t sp = out.registers.rsp;
    std::size_t want = limits.max_stack_bytes;
    const MapEntry* mapping = limits.maps ? limits.maps->find(sp) : nullptr;
    if (mapping && mapping->end - sp < want)
        want = static_cast<std::size_t>(mapping->end - sp);
    out.stack_start = sp;
    out.stack.resize(want);
    iovec local{out.stack.data(), want};
    iovec remote{reinterpret_cast<void*>(sp), want};
    ssize_t copied = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
    out.stack.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
}

} // namespace

int last_attach_errno() {
    return g_last_attach_errno;
}

CaptureStatus capture_thread(int tid, const CaptureLimits& limits, ThreadSnapshot& out,
                             const std::function<void()>& while_stopped) {
    out.tid = tid;
    if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
        g_last_attach_errno = errno;
        return errno == ESRCH ? CaptureStatus::thread_gone : CaptureStatus::not_permitted;
    }
    // The pause runs from the interrupt to the detach call: before PTRACE_INTERRUPT the thread
    // runs on, and once PTRACE_DETACH wakes it, any time we then wait for a CPU is ours, not its.
    std::uint64_t started = monotonic_ns();
    if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
        // Not stopped, so it cannot be detached by PTRACE_DETACH; let it stop and go later.
        g_lingering.push_back(tid);
        return errno == ESRCH ? CaptureStatus::thread_gone : CaptureStatus::failed;
    }
    int pending_signal = 0;
    switch (wait_for_stop(tid, limits.stop_wait_nanoseconds, pending_signal)) {
    case StopResult::exited:
        return CaptureStatus::thread_gone;
    case StopResult::timed_out:
        g_lingering.push_back(tid);
        return CaptureStatus::failed;
    case StopResult::stopped:
        break;
    }
    // From here the thread is in a ptrace stop: let it go on every path, exceptions included.
    StoppedThread stopped{tid, pending_signal};
    CaptureStatus status = CaptureStatus::ok;
    if (::ptrace(PTRACE_GETREGS, tid, nullptr, &out.registers) != 0)
        status = CaptureStatus::failed;
    else if (limits.max_stack_bytes > 0)
        copy_stack(tid, limits, out);
    else
        out.stack.clear();
    if (status == CaptureStatus::ok && while_stopped)
        while_stopped();
    out.pause_nanoseconds = monotonic_ns() - started;
    return status;
}

void detach_lingering_threads() {
    std::vector<int> still_waiting;
    for (int tid : g_lingering) {
        int status = 0;
        pid_t got = ::waitpid(tid, &status, __WALL | WNOHANG);
        if (got == 0) {
            still_waiting.push_back(tid);
        } else if (got == tid && WIFSTOPPED(status)) {
            int event = status >> 16;
            int signal = (event == 0 && WSTOPSIG(status) != SIGTRAP) ? WSTOPSIG(status) : 0;
            ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(signal)));
        } else if (got == tid && (WIFEXITED(status) || WIFSIGNALED(status))) {
            note_reaped(tid, status);
        }
    }
    g_lingering = std::move(still_waiting);
}

void keep_exit_of(int pid) {
    g_kept_exits.try_emplace(pid);
}

std::optional<int> reap_exited_child(int pid) {
    if (auto kept = g_kept_exits.find(pid); kept != g_kept_exits.end() && kept->second)
        return kept->second;
    // Exits only: a ptrace stop of the same child stays for the capture that waits for it.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) != 0 || info.si_pid != pid)
        return std::nullopt;
    int status = 0;
    switch (info.si_code) {
    case CLD_EXITED:
        status = (info.si_status & 0xff) << 8;
        break;
    case CLD_DUMPED:
        status = (info.si_status & 0x7f) | 0x80;
        break;
    default: // CLD_KILLED
        status = info.si_status & 0x7f;
        break;
    }
    g_kept_exits[pid] = status; // asked again (the session's end, then the command's status)
    return status;
}

} // namespace sampler

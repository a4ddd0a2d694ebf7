#include "target.hpp"

#include "capabilities.hpp"
#include "perf_capture.hpp"
#include "proc_threads.hpp"
#include "remote_memory.hpp"
#include "sampler/error.hpp"
#include "sampling_session.hpp"
#include "thread_capture.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sampler {
namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

bool have_cap_sys_ptrace() {
    return (capability_set("self", "CapEff") >> cap_sys_ptrace) & 1;
}

// Root without the capability may trace only targets whose capabilities are a subset of its own.
std::string root_without_cap_sys_ptrace(int pid) {
    std::string hint =
        "\n  - sampler runs as root but without CAP_SYS_PTRACE (dropped by its container, service "
        "manager or parent)";
    const std::uint64_t missing =
        capability_set(std::to_string(pid), "CapPrm") & ~capability_set("self", "CapEff");
    if (missing != 0)
        hint += ", and the target holds capabilities sampler lacks (" + capability_names(missing) + ")";
    return hint + ": being root is not enough here, give sampler CAP_SYS_PTRACE.";
}

bool in_container() {
    return ::access("/.dockerenv", F_OK) == 0 || ::access("/run/.containerenv", F_OK) == 0 ||
           first_line("/proc/1/cgroup").find("docker") != std::string::npos ||
           first_line("/proc/1/cgroup").find("kubepods") != std::string::npos;
}

// The kernel maps a program (and its ELF interpreter) only after exec has closed the
// close-on-exec descriptors, which is how launch_command learns that the exec succeeded: maps
// read in between lack the program, whose first samples would stay unsymbolized (a short
// command's, all of them). The auxiliary vector is written once both are mapped: wait, a second
// at most, until its first entry is set. (Unreadable or empty, the process is gone or not ours
// to read: nothing to wait for.)
void wait_until_program_mapped(int pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/auxv";
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < give_up) {
        std::ifstream auxv(path, std::ios::binary); // opened anew: it reads the mm of its opening
        std::uint64_t first_type = 0;
        if (!auxv.read(reinterpret_cast<char*>(&first_type), sizeof first_type) || first_type != 0)
            return;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
}

} // namespace

std::string explain_ptrace_denied(int pid) {
    std::ostringstream why;
    const std::string intro =
        "no permission to attach to process " + std::to_string(pid) + " (ptrace: Operation not permitted).";
    why << intro;
    struct stat owner {};
    std::string proc = "/proc/" + std::to_string(pid);
    // The kernel gives a process that is not dumpable to root: its /proc files, not its directory.
    struct stat files_owner {};
    if (::geteuid() != 0 && ::stat(proc.c_str(), &owner) == 0 && owner.st_uid != ::geteuid())
        why << "\n  - it belongs to another user (uid " << owner.st_uid
            << "): run sampler as root (sudo) or as that user.";
    else if (::geteuid() != 0 && ::stat((proc + "/stat").c_str(), &files_owner) == 0 &&
             files_owner.st_uid != ::geteuid())
        why << "\n  - it is yours but not dumpable (a setuid or setgid program, or "
               "prctl(PR_SET_DUMPABLE, 0)): only CAP_SYS_PTRACE (root) may read it.";
    if (!have_cap_sys_ptrace()) {
        if (::geteuid() == 0)
            why << root_without_cap_sys_ptrace(pid);
        else
            why << "\n  - sampler lacks CAP_SYS_PTRACE: run it as root, or grant it with "
                   "`sudo setcap cap_sys_ptrace+ep $(command -v sampler)`.";
        if (in_container() || ::geteuid() == 0)
            why << "\n  - in a container, start it with `--cap-add SYS_PTRACE` (docker/podman) or add "
                   "SYS_PTRACE to securityContext.capabilities (Kubernetes).";
    }
    std::string scope = first_line("/proc/sys/kernel/yama/ptrace_scope");
    if (scope == "1")
        why << "\n  - kernel.yama.ptrace_scope=1 lets a process trace only its own descendants: run "
               "with CAP_SYS_PTRACE (root has it unless it was dropped), start the target with `sampler "
               "record -- COMMAND`, or `sudo sysctl kernel.yama.ptrace_scope=0`.";
    else if (scope == "2")
        why << "\n  - kernel.yama.ptrace_scope=2 allows ptrace only with CAP_SYS_PTRACE (root has it "
               "unless it was dropped).";
    else if (scope == "3")
        why << "\n  - kernel.yama.ptrace_scope=3 forbids ptrace entirely until reboot.";
    if (why.str() == intro)
        why << "\n  - none of the usual causes (another user, a missing CAP_SYS_PTRACE, Yama) applies: a "
               "security module (AppArmor, SELinux, a sandbox's own rules) may protect the target, or it "
               "lives in a user namespace above sampler's (sampler inside a container, the target outside).";
    return why.str();
}

void check_target(int pid, TargetAccess access) {
    if (pid <= 0)
        throw Error(ErrorKind::usage, "invalid PID " + std::to_string(pid) + ": must be a positive number");
    if (pid == ::getpid())
        throw Error(ErrorKind::usage, "PID " + std::to_string(pid) +
                                          " is sampler itself; give the PID of the program to profile");
    if (process_state(pid) == '?')
        throw Error(ErrorKind::no_such_process, "no such process: " + std::to_string(pid));
    // The main thread may have ended (pthread_exit) while others run on: they are the process.
    const int thread = live_thread(pid);
    if (thread == 0)
        throw Error(ErrorKind::no_such_process,
                    "process " + std::to_string(pid) + " has already exited (zombie)");
    const char state = process_state(thread);
    const std::string proc = "/proc/" + std::to_string(thread);
    // Before any access is tried: without a memory map, every way to read it fails as if refused.
    std::ifstream maps(proc + "/maps");
    if (maps && maps.peek() == std::ifstream::traits_type::eof() && process_command_line(pid).empty())
        throw Error(ErrorKind::unsupported, "process " + std::to_string(pid) +
                                                " is a kernel thread: it has no user-space stack to sample");
    if (access == TargetAccess::read_memory) {
        // No stop: only check that its memory may be read (the same permission as ptrace's).
        ProcessMemory memory(thread);
        std::uint64_t word = 0;
        std::ifstream maps_file(proc + "/maps");
        std::string line;
        std::getline(maps_file, line);
        std::uint64_t first = std::strtoull(line.c_str(), nullptr, 16);
        errno = 0;
        if (!line.empty() && !memory.read_value(first, word) && (errno == EPERM || errno == EACCES))
            throw Error(ErrorKind::permission, explain_ptrace_denied(pid));
        if (line.empty() && !process_exists(pid))
            throw Error(ErrorKind::no_such_process, "no such process: " + std::to_string(pid));
        if (!maps_file.is_open() || line.empty())
            throw Error(ErrorKind::permission, explain_ptrace_denied(pid));
        return;
    }
    if (int tracer = process_tracer(thread); tracer != 0) {
        std::string name = first_line("/proc/" + std::to_string(tracer) + "/comm");
        throw Error(ErrorKind::already_traced,
                    "process " + std::to_string(pid) + " is already traced by process " +
                        std::to_string(tracer) + (name.empty() ? "" : " (" + name + ")") +
                        ": only one debugger or profiler can attach at a time; detach it first");
    }
    // A real stop-and-go of a live thread (the main one unless it has ended): the only reliable
    // test that ptrace is allowed.
    ThreadSnapshot probe;
    CaptureStatus status = capture_thread(thread, CaptureLimits{.max_stack_bytes = 0}, probe);
    // ptrace refuses a zombie with EPERM: a process that ended since the checks above is gone,
    // not protected.
    if (status == CaptureStatus::not_permitted && !process_exists(pid))
        throw Error(ErrorKind::no_such_process, "process " + std::to_string(pid) + " exited");
    if (status == CaptureStatus::not_permitted) {
        if (last_attach_errno() == EPERM && process_tracer(thread) != 0)
            throw Error(ErrorKind::already_traced,
                        "process " + std::to_string(pid) + " is already traced by another debugger");
        throw Error(ErrorKind::permission, explain_ptrace_denied(pid));
    }
    if (status == CaptureStatus::thread_gone && !process_exists(pid))
        throw Error(ErrorKind::no_such_process, "process " + std::to_string(pid) + " exited");
    // The stop cut short a sleep, which the kernel restarts once the thread runs again: until
    // then it reads as running, and `dump` (which reads states next) would say so. Give it a
    // moment to sleep again; it costs nothing when the thread was running anyway.
    if (state != 'R')
        for (int waited = 0; waited < 100 && process_state(thread) == 'R'; ++waited)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void check_targets(const std::vector<int>& pids, TargetAccess access) {
    for (int pid : pids)
        check_target(pid, access);
}

std::vector<int> distinct_pids(const std::vector<int>& pids) {
    std::vector<int> distinct;
    for (int pid : pids)
        if (std::find(distinct.begin(), distinct.end(), pid) == distinct.end())
            distinct.push_back(pid);
    return distinct;
}

TargetAccess target_access(const SessionOptions& session) {
    if (wants_ptrace_engine(session))
        return TargetAccess::stop_threads;
    PerfUnavailable why;
    const int thread = live_thread(session.main_pid());
    if (PerfCapture::probe(thread != 0 ? thread : session.main_pid(), why) || why.error == ESRCH)
        return TargetAccess::read_memory;
    if (session.capture == CaptureChoice::perf)
        throw Error(ErrorKind::unsupported, "--capture perf: " + why.reason);
    return TargetAccess::stop_threads; // the session says once why it falls back
}

int launch_command(const std::vector<std::string>& command) {
    if (command.empty())
        throw Error(ErrorKind::usage, "no command given after --");
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        throw Error(ErrorKind::internal, std::string("pipe: ") + std::strerror(errno));
    pid_t child = ::fork();
    if (child < 0)
        throw Error(ErrorKind::internal, std::string("fork: ") + std::strerror(errno));
    if (child == 0) {
        // We ignore SIGPIPE, and an ignored signal stays ignored across exec: the command gets
        // the default back, so that `yes | head` inside it ends as it should.
        std::signal(SIGPIPE, SIG_DFL);
        std::vector<char*> argv;
        for (const auto& arg : command)
            argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        int error = errno;
        [[maybe_unused]] auto written = ::write(pipe_fds[1], &error, sizeof error);
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    // The close-on-exec pipe reads EOF once exec succeeded, or the child's errno if it failed.
    int exec_errno = 0;
    ssize_t got;
    do {
        got = ::read(pipe_fds[0], &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    ::close(pipe_fds[0]);
    if (got == sizeof exec_errno) {
        ::waitpid(child, nullptr, 0);
        throw Error(ErrorKind::usage, "cannot run " + command[0] + ": " + std::strerror(exec_errno));
    }
    keep_exit_of(child); // its status is sampler's at the end (command_exit_code)
    wait_until_program_mapped(child);
    return child;
}

std::string target_command_line(int pid, const std::vector<std::string>& launched) {
    if (launched.empty())
        return process_command_line(pid);
    std::string text;
    for (const std::string& arg : launched)
        text += (text.empty() ? "" : " ") + arg;
    return text;
}

int command_exit_code(int wait_status) {
    if (wait_status < 0)
        return 0;
    if (WIFEXITED(wait_status)) {
        const int code = WEXITSTATUS(wait_status);
        if (code != 0)
            std::fprintf(stderr, "sampler: the command exited with status %d\n", code);
        return code;
    }
    if (WIFSIGNALED(wait_status)) {
        const int signal = WTERMSIG(wait_status);
        std::fprintf(stderr, "sampler: the command was killed by signal %d (%s)%s\n", signal,
                     ::strsignal(signal), WCOREDUMP(wait_status) ? ", core dumped" : "");
        return 128 + signal;
    }
    return 0;
}

namespace {

// See run_for_command_status.
std::optional<int> ended_command_exit_code(int pid, const Error& error) {
    // Attaching to a zombie fails with EPERM, not ESRCH: a permission error stands only while
    // the command runs.
    if (error.kind() != ErrorKind::no_such_process && process_exists(pid))
        return std::nullopt;
    // Found ended (a zombie) or gone: reapable at once, or within moments.
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (std::optional<int> status = reap_exited_child(pid)) {
            std::fprintf(stderr, "sampler: the command ended before sampling began: nothing was recorded\n");
            return command_exit_code(*status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
}

} // namespace

int run_for_command_status(const std::function<int(int& launched_pid)>& run) {
    int launched_pid = 0;
    try {
        return run(launched_pid);
    } catch (const Error& error) {
        if (std::optional<int> code =
                launched_pid ? ended_command_exit_code(launched_pid, error) : std::nullopt)
            return *code;
        throw;
    }
}

} // namespace sampler

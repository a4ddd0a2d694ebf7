#include "process_helpers.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sampler::testing {

std::string sampler_binary() {
    return SAMPLER_BINARY;
}
std::string fixture_path(const std::string& name) {
    return std::string(FIXTURE_DIR) + "/" + name;
}
std::string source_path(const std::string& relative) {
    return std::string(SOURCE_DIR) + "/" + relative;
}

std::string temp_path(const std::string& name) {
    static const std::string dir = [] {
        char pattern[] = "/tmp/sampler-test-XXXXXX";
        const char* made = ::mkdtemp(pattern);
        if (!made)
            throw std::runtime_error("mkdtemp failed");
        return std::string(made);
    }();
    return dir + "/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

namespace {

int open_stdout(ChildStdout to, const std::string& file) {
    if (to == ChildStdout::full_disk)
        return ::open("/dev/full", O_WRONLY);
    if (to == ChildStdout::file)
        return ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ends[2];
    if (::pipe(ends) != 0)
        return -1;
    ::close(ends[0]);
    return ends[1];
}

} // namespace

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, int drop_to_uid, ChildStdout stdout_to) {
    static int counter = 0;
    std::string base = temp_path("child-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int out = open_stdout(stdout_to, out_path_);
        int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        // Its own process group, so a terminal's Ctrl-C meant for the test runner misses it, and
        // killed with the test runner even if that dies without cleaning up.
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (drop_to_uid >= 0 && (::setgid(drop_to_uid) != 0 || ::setuid(drop_to_uid) != 0))
            ::_exit(126);
        std::vector<char*> args;
        for (const auto& arg : argv)
            args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) {
        // The whole process group: children the fixture started (multiprocessing workers) too.
        ::kill(-pid_, SIGKILL);
        if (!exited_)
            ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(out_path_.c_str());
    ::unlink(err_path_.c_str());
}

void ChildProcess::signal(int number) const {
    if (!exited_)
        ::kill(pid_, number);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (exited_)
        return exit_code_;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        pid_t got = ::waitpid(pid_, &status, WNOHANG);
        if (got == pid_) {
            exited_ = true;
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return exit_code_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

std::string ChildProcess::output() const {
    return read_file(out_path_);
}
std::string ChildProcess::errors() const {
    return read_file(err_path_);
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    ChildProcess child(argv);
    CommandResult result;
    result.exit_code = child.wait(timeout);
    result.out = child.output();
    result.err = child.errors();
    return result;
}

CommandResult run_sampler(const std::vector<std::string>& arguments, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv{sampler_binary()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_command(argv, timeout);
}

void wait_until_started(const ChildProcess& fixture) {
    // Exec has happened once /proc/PID/exe names the fixture rather than the test binary.
    std::error_code ignored;
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ignored).string();
    for (int i = 0; i < 500; ++i) {
        char target[4096] = {};
        std::string link = "/proc/" + std::to_string(fixture.pid()) + "/exe";
        ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        if (n > 0 && std::string(target, static_cast<std::size_t>(n)) != self)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // Let the dynamic loader finish and the workload reach its loop.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

char process_state(int pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    std::size_t close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

int tracer_of(int pid) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("TracerPid:", 0) == 0)
            return std::atoi(line.c_str() + 10);
    return -1;
}

void check_target_runs_on(int pid) {
    char state = process_state(pid);
    INFO("target state " << state);
    CHECK((state == 'R' || state == 'S'));
    CHECK(tracer_of(pid) == 0);
}

namespace {

long cpu_ticks_in(const std::string& stat_path) {
    std::string stat = read_file(stat_path);
    std::size_t close = stat.rfind(')');
    if (close == std::string::npos)
        return -1;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    long utime = 0, stime = 0;
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    for (int number = 3; number <= 15 && fields >> field; ++number) {
        if (number == 14)
            utime = std::atol(field.c_str());
        if (number == 15)
            stime = std::atol(field.c_str());
    }
    return utime + stime;
}

} // namespace

long cpu_ticks(int pid) {
    return cpu_ticks_in("/proc/" + std::to_string(pid) + "/stat");
}

long thread_cpu_ticks(int pid, int tid) {
    return cpu_ticks_in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
}

namespace {

bool wait_for_text(const std::function<std::string()>& read, const std::string& text,
                   std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read().find(text) == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

} // namespace

bool wait_for_errors(const ChildProcess& process, const std::string& text,
                     std::chrono::milliseconds timeout) {
    return wait_for_text([&] { return process.errors(); }, text, timeout);
}

bool wait_for_output(const ChildProcess& process, const std::string& text,
                     std::chrono::milliseconds timeout) {
    return wait_for_text([&] { return process.output(); }, text, timeout);
}

namespace {

bool wait_for_more_ticks(const std::function<long()>& ticks_now, long ticks,
                         std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const long start = ticks_now();
    while (ticks_now() - start < ticks) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

} // namespace

bool wait_for_cpu_ticks(int pid, long ticks, std::chrono::milliseconds timeout) {
    return wait_for_more_ticks([pid] { return cpu_ticks(pid); }, ticks, timeout);
}

bool wait_for_thread_cpu_ticks(int pid, int tid, long ticks, std::chrono::milliseconds timeout) {
    return wait_for_more_ticks([pid, tid] { return thread_cpu_ticks(pid, tid); }, ticks, timeout);
}

std::map<std::string, long> parse_folded(const std::string& text) {
    std::map<std::string, long> stacks;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        std::size_t space = line.rfind(' ');
        if (space == std::string::npos)
            continue;
        stacks[line.substr(0, space)] += std::atol(line.c_str() + space + 1);
    }
    return stacks;
}

long samples_matching(const std::map<std::string, long>& folded, const std::string& needle) {
    long count = 0;
    for (const auto& [stack, samples] : folded)
        if (stack.find(needle) != std::string::npos)
            count += samples;
    return count;
}

long samples_with_function(const std::map<std::string, long>& folded, const std::string& name) {
    long count = 0;
    for (const auto& [stack, samples] : folded) {
        std::size_t start = 0;
        while (start <= stack.size()) {
            std::size_t end = stack.find(';', start);
            if (end == std::string::npos)
                end = stack.size();
            const std::string_view frame(stack.data() + start, end - start);
            const std::string_view rest = frame.starts_with(name) ? frame.substr(name.size()) : "@";
            if (rest.empty() || rest.starts_with(" (") || rest.starts_with('.')) {
                count += samples;
                break;
            }
            start = end + 1;
        }
    }
    return count;
}

long total_samples(const std::map<std::string, long>& folded) {
    long count = 0;
    for (const auto& [stack, samples] : folded)
        count += samples;
    return count;
}

std::set<std::string> thread_root_names(const std::map<std::string, long>& folded) {
    std::set<std::string> names;
    const std::regex root(R"(^thread \d+ \((.*)\)$)");
    for (const auto& [stack, count] : folded) {
        std::smatch match;
        std::string first = stack.substr(0, stack.find(';'));
        if (std::regex_match(first, match, root))
            names.insert(match[1]);
    }
    return names;
}

std::vector<std::string> process_table_lines(const std::string& text) {
    std::vector<std::string> rows;
    std::istringstream in(text);
    bool in_table = false;
    for (std::string line; std::getline(in, line);) {
        if (!in_table) {
            in_table = line.find("PID") != std::string::npos && line.find("%CPU") != std::string::npos &&
                       line.find("Hottest function") != std::string::npos;
            continue;
        }
        std::istringstream fields(line);
        int pid = 0;
        if (!(fields >> pid))
            break;
        rows.push_back(line);
    }
    return rows;
}

int line_of_marker(const std::string& file, const std::string& marker) {
    std::istringstream lines(read_file(file));
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number)
        if (line.find(marker) != std::string::npos)
            return number;
    return -1;
}

} // namespace sampler::testing

#include "child_process.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sampler::testing {

Child::Child(const std::vector<std::string>& argv, const std::string& output_path) {
    std::vector<char*> args;
    for (const std::string& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    std::string out = output_path.empty() ? "/dev/null" : output_path;
    pid_ = ::fork();
    if (pid_ == 0) {
        int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::close(fd);
        }
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0)
            ::dup2(null, 0);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

Child::~Child() {
    if (pid_ > 0 && !reaped_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
}

bool Child::running() {
    if (pid_ <= 0 || reaped_)
        return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

int Child::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline)
            return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

std::string unique_temp_path(const std::string& stem) {
    static std::atomic<int> counter{0};
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/sampler-python-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter++) + "-" + stem;
}

RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      bool with_stderr) {
    std::string out_path = unique_temp_path("out.txt");
    RunResult result;
    {
        std::vector<std::string> command = argv;
        if (!with_stderr) {
            // stderr to /dev/null: run through env so the child's fds can differ (simple: sh).
            std::string line;
            for (const std::string& arg : argv) {
                std::string quoted = "'";
                for (char c : arg)
                    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
                line += quoted + "' ";
            }
            command = {"/bin/sh", "-c", "exec " + line + "2>/dev/null"};
        }
        Child child(command, out_path);
        result.exit_code = child.wait(timeout);
    }
    result.out = read_text_file(out_path);
    ::unlink(out_path.c_str());
    return result;
}

} // namespace sampler::testing

#include "namespaced_process.hpp"

#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace sampler::testing {
namespace {

std::string executable_of(int pid) {
    std::error_code ignored;
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ignored).string();
}

// The first process below `root` (depth first, bounded) running `program`; 0 when none yet.
int find_descendant(int root, const std::string& program) {
    std::vector<int> pending{root};
    for (int visited = 0; !pending.empty() && visited < 64; ++visited) {
        int pid = pending.back();
        pending.pop_back();
        if (pid != root && executable_of(pid) == program)
            return pid;
        std::istringstream children(
            read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
        for (int child = 0; children >> child;)
            pending.push_back(child);
    }
    return 0;
}

std::vector<std::string> unshare_command(const std::vector<std::string>& unshare_args,
                                         const std::vector<std::string>& command) {
    std::vector<std::string> argv{"/usr/bin/unshare"};
    argv.insert(argv.end(), unshare_args.begin(), unshare_args.end());
    argv.push_back("--kill-child"); // the program dies with unshare, whatever happens to us
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
}

} // namespace

std::string namespaces_unavailable() {
    if (::geteuid() != 0)
        return "namespaces need root (CAP_SYS_ADMIN)";
    if (::access("/usr/bin/unshare", X_OK) != 0)
        return "/usr/bin/unshare (util-linux) is not installed";
    return {};
}

NamespacedProcess::NamespacedProcess(const std::vector<std::string>& unshare_args,
                                     const std::vector<std::string>& command, const std::string& program)
    : wrapper_(unshare_command(unshare_args, command)) {
    // Until it runs, or unshare gave up (its error is in errors()).
    for (int waited = 0; waited < 1000 && pid_ == 0 && process_state(wrapper_.pid()) != 'Z'; ++waited) {
        pid_ = find_descendant(wrapper_.pid(), program);
        if (pid_ == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

NamespacedProcess::~NamespacedProcess() {
    if (pid_ > 0) {
        // unshare (and a shell between) wait for it: once it is gone they reap it and exit.
        ::kill(pid_, SIGKILL);
        wrapper_.wait(std::chrono::seconds(10));
    }
    // ~ChildProcess kills and reaps whatever is left of the wrapper's process group.
}

int NamespacedProcess::inner_pid() const {
    std::istringstream status(read_file("/proc/" + std::to_string(pid_) + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("NSpid:", 0) != 0)
            continue;
        std::istringstream ids(line.substr(6));
        int last = 0;
        for (int id = 0; ids >> id;)
            last = id;
        return last;
    }
    return 0;
}

} // namespace sampler::testing

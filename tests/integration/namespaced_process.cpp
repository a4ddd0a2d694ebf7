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

// The processes below `root`, parents before their children (bounded).
std::vector<int> descendants(int root) {
    std::vector<int> found;
    std::vector<int> parents{root};
    for (std::size_t next = 0; next < parents.size() && found.size() < 64; ++next) {
        std::istringstream children(read_file("/proc/" + std::to_string(parents[next]) + "/task/" +
                                              std::to_string(parents[next]) + "/children"));
        for (int child = 0; children >> child && found.size() < 64;) {
            found.push_back(child);
            parents.push_back(child);
        }
    }
    return found;
}

// The first process below `root` running `program`; 0 when none yet.
int find_descendant(int root, const std::string& program) {
    for (int pid : descendants(root))
        if (executable_of(pid) == program)
            return pid;
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
    // Deepest first, each reaped by its parent (unshare, a shell: they wait for their children)
    // before that parent is killed: an orphan would go to init, which may not reap it.
    std::vector<int> below = descendants(wrapper_.pid());
    for (auto pid = below.rbegin(); pid != below.rend(); ++pid) {
        ::kill(*pid, SIGKILL);
        for (int waited = 0; waited < 200 && process_state(*pid) != '?'; ++waited)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    wrapper_.wait(std::chrono::seconds(10));
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

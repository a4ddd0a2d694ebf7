#include "proc_threads.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace sampler {

std::string read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

std::vector<int> list_threads(int pid) {
    std::vector<int> tids;
    std::string path = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(path.c_str());
    if (!dir)
        return tids;
    while (dirent* entry = ::readdir(dir)) {
        char* end = nullptr;
        long tid = std::strtol(entry->d_name, &end, 10);
        if (end != entry->d_name && *end == '\0' && tid > 0)
            tids.push_back(static_cast<int>(tid));
    }
    ::closedir(dir);
    std::sort(tids.begin(), tids.end());
    return tids;
}

char parse_stat_state(const std::string& stat_text) {
    // The name is in parentheses and may itself contain ") ": the state follows the last ')'.
    std::size_t close = stat_text.rfind(')');
    if (close == std::string::npos || close + 2 >= stat_text.size())
        return '?';
    return stat_text[close + 2];
}

std::optional<ThreadInfo> read_thread_info(int pid, int tid) {
    std::string base = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/";
    std::string stat = read_small_file(base + "stat");
    if (stat.empty())
        return std::nullopt;
    ThreadInfo info;
    info.pid = pid;
    info.tid = tid;
    info.state = parse_stat_state(stat);
    info.name = read_small_file(base + "comm");
    while (!info.name.empty() && info.name.back() == '\n')
        info.name.pop_back();
    return info;
}

namespace {

bool has_exited(char state) {
    return state == '?' || state == 'Z' || state == 'X';
}

} // namespace

bool process_exists(int pid) {
    return live_thread(pid) != 0;
}

int live_thread(int pid) {
    char state = process_state(pid);
    if (state == '?')
        return 0;
    if (!has_exited(state))
        return pid;
    // The main thread is a zombie: once the whole process has exited, it is the only task left.
    for (int tid : list_threads(pid))
        if (tid != pid && !has_exited(parse_stat_state(read_small_file(
                              "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat"))))
            return tid;
    return 0;
}

char process_state(int pid) {
    return parse_stat_state(read_small_file("/proc/" + std::to_string(pid) + "/stat"));
}

std::string process_command_line(int pid) {
    std::string text = read_small_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (text.empty()) // a main thread that ended (pthread_exit) shows none: ask one still running
        if (int thread = live_thread(pid); thread != 0 && thread != pid)
            text = read_small_file("/proc/" + std::to_string(thread) + "/cmdline");
    while (!text.empty() && text.back() == '\0')
        text.pop_back();
    std::replace(text.begin(), text.end(), '\0', ' ');
    return text;
}

int process_tracer(int pid) {
    std::istringstream status(read_small_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("TracerPid:", 0) == 0)
            return std::atoi(line.c_str() + 10);
    }
    return 0;
}

} // namespace sampler

namespace sampler {

std::vector<int> descendants_of(int pid) {
    std::vector<int> found;
    std::vector<int> pending{pid};
    // Bounded: a fork bomb must not keep us here.
    constexpr std::size_t max_processes = 4096;
    while (!pending.empty() && found.size() < max_processes) {
        int parent = pending.back();
        pending.pop_back();
        for (int tid : list_threads(parent)) {
            std::istringstream children(read_small_file("/proc/" + std::to_string(parent) + "/task/" +
                                                        std::to_string(tid) + "/children"));
            int child = 0;
            while (children >> child && found.size() < max_processes) {
                if (std::find(found.begin(), found.end(), child) != found.end() || child == pid)
                    continue;
                found.push_back(child);
                pending.push_back(child);
            }
        }
    }
    return found;
}

} // namespace sampler

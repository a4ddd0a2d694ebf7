#include "namespace_tids.hpp"

#include "proc_threads.hpp"

#include <charconv>

namespace sampler {
namespace {

using Clock = std::chrono::steady_clock;

// Enough for the threads of any process (bounded: the ids come from /proc, but so many
// misses would mean garbage read from the target).
constexpr std::size_t max_unknown = 4096;

std::string status_path(int pid, int tid) {
    return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status";
}

} // namespace

NamespaceTids::NamespaceTids(int pid) : pid_(pid) {
    if (pid <= 0)
        return;
    nested_ = parse_nspid(read_small_file("/proc/" + std::to_string(pid) + "/status")).size() > 1;
}

std::vector<int> NamespaceTids::parse_nspid(std::string_view status) {
    std::vector<int> ids;
    std::size_t at = status.find("\nNSpid:");
    if (status.starts_with("NSpid:"))
        at = 0;
    else if (at == std::string_view::npos)
        return ids;
    else
        ++at;
    std::string_view line = status.substr(at + 6);
    line = line.substr(0, line.find('\n'));
    while (!line.empty() && ids.size() < 64) { // namespaces nest at most 32 deep
        std::size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos)
            break;
        line.remove_prefix(start);
        int id = 0;
        auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), id);
        if (error != std::errc() || id <= 0)
            return {};
        ids.push_back(id);
        line.remove_prefix(static_cast<std::size_t>(end - line.data()));
    }
    return ids;
}

int NamespaceTids::host_tid(int inner) {
    if (!nested_ || inner <= 0)
        return nested_ ? 0 : inner;
    if (auto found = host_by_inner_.find(inner); found != host_by_inner_.end())
        return found->second;
    if (!may_refresh_for(inner))
        return 0;
    refresh();
    if (auto found = host_by_inner_.find(inner); found != host_by_inner_.end())
        return found->second;
    if (unknown_.size() >= max_unknown)
        unknown_.clear();
    unknown_.insert(inner);
    return 0;
}

bool NamespaceTids::may_refresh_for(int inner) const {
    const auto since = Clock::now() - refreshed_at_;
    if (since >= std::chrono::seconds(1))
        return true;
    // A thread started since the last pass: worth a pass now, unless passes come too often.
    return since >= std::chrono::milliseconds(10) && !unknown_.contains(inner);
}

void NamespaceTids::refresh() {
    refreshed_at_ = Clock::now();
    std::unordered_map<int, int> fresh;
    for (int tid : list_threads(pid_)) {
        std::vector<int> ids = parse_nspid(read_small_file(status_path(pid_, tid)));
        // Ours first, the process's own last; a thread that ended meanwhile has no file.
        if (ids.size() > 1 && ids.front() == tid)
            fresh[ids.back()] = tid;
    }
    host_by_inner_ = std::move(fresh);
    std::erase_if(unknown_, [&](int inner) { return host_by_inner_.contains(inner); });
}

} // namespace sampler

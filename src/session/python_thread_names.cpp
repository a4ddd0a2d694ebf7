#include "python_thread_names.hpp"

namespace sampler {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto refresh_interval = std::chrono::seconds(1);
// A new thread may not be in `threading._active` yet when first listed; and a program that
// keeps starting threads must not make us read on every round.
constexpr auto new_thread_interval = std::chrono::milliseconds(100);

} // namespace

bool PythonThreadNames::stale(const std::vector<int>& tids) const {
    auto since = Clock::now() - read_at_;
    if (read_at_ == Clock::time_point() || since >= refresh_interval)
        return true;
    if (since < new_thread_interval)
        return false;
    for (int tid : tids)
        if (!listed_.contains(tid))
            return true;
    return false;
}

void PythonThreadNames::refresh(PythonReader& reader, const RemoteMemory& memory,
                                const std::vector<int>& tids) {
    if (!stale(tids))
        return;
    read_at_ = Clock::now();
    std::unordered_map<int, std::string> fresh = reader.thread_names(memory);
    std::unordered_map<int, std::string> names;
    for (int tid : tids) {
        // A read torn by the running target may miss a thread: keep the name it had.
        if (auto found = fresh.find(tid); found != fresh.end())
            names.emplace(tid, std::move(found->second));
        else if (auto old = names_.find(tid); old != names_.end())
            names.emplace(tid, std::move(old->second));
    }
    names_ = std::move(names);
    listed_ = std::unordered_set<int>(tids.begin(), tids.end());
}

const std::string* PythonThreadNames::find(int tid) const {
    auto found = names_.find(tid);
    return found == names_.end() ? nullptr : &found->second;
}

} // namespace sampler

#include "process_cpu_times.hpp"

#include "proc_threads.hpp"
#include "sampler/clock.hpp"

#include <algorithm>
#include <sstream>
#include <unistd.h>

namespace sampler {

std::optional<ProcessCpuReading> parse_process_cpu(const std::string& stat_text, long ticks_per_second) {
    // "PID (COMM) STATE PPID ...": the command may hold spaces and parentheses, so the fields are
    // counted from the last ')'. utime and stime are fields 14 and 15, starttime 22.
    const std::size_t close = stat_text.rfind(')');
    if (close == std::string::npos || ticks_per_second <= 0)
        return std::nullopt;
    std::istringstream fields(stat_text.substr(close + 1));
    std::string field;
    ProcessCpuReading reading;
    std::uint64_t utime = 0, stime = 0;
    for (int number = 3; number <= 22; ++number) {
        if (!(fields >> field))
            return std::nullopt;
        try {
            if (number == 14)
                utime = std::stoull(field);
            else if (number == 15)
                stime = std::stoull(field);
            else if (number == 22)
                reading.start_time = std::stoull(field);
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    const std::uint64_t ticks = utime + stime;
    const auto per_tick_ns = static_cast<std::uint64_t>(1'000'000'000 / ticks_per_second);
    reading.cpu_ns = ticks * per_tick_ns;
    return reading;
}

std::optional<ProcessCpuReading> ProcessCpuTimes::read(int pid) const {
    static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    return parse_process_cpu(read_small_file("/proc/" + std::to_string(pid) + "/stat"), ticks_per_second);
}

std::uint64_t ProcessCpuTimes::Counted::used_ns() const {
    return last_ns >= baseline_ns ? last_ns - baseline_ns : 0;
}

void ProcessCpuTimes::retire(int pid, const Counted& counted) {
    retired_ns_ += counted.used_ns();
    uncovered_ += counted.pending;
    if (retired_read_at_.size() >= max_retired)
        retired_read_at_.clear(); // samples of those drained later count as covered: a bounded error
    retired_read_at_[pid] = counted.read_at_ns;
}

bool ProcessCpuTimes::add(int pid, bool since_fork) {
    const std::uint64_t now = monotonic_ns();
    const std::optional<ProcessCpuReading> reading = read(pid);
    auto known = processes_.find(pid);
    if (known != processes_.end()) {
        if (reading && reading->start_time == known->second.start_time)
            return true;            // counted already
        retire(pid, known->second); // an earlier process of this pid
        processes_.erase(known);
    }
    if (!reading)
        return false; // gone already: nothing to count
    retired_read_at_.erase(pid);
    processes_[pid] = {reading->start_time, since_fork ? 0 : reading->cpu_ns, reading->cpu_ns, now, 0};
    return true;
}

bool ProcessCpuTimes::read_again(std::unordered_map<int, Counted>::iterator& it) {
    const std::uint64_t now = monotonic_ns();
    const std::optional<ProcessCpuReading> reading = read(it->first);
    if (!reading || reading->start_time != it->second.start_time) {
        retire(it->first, it->second); // it exited: as last read
        if (gone_.size() < 65536)
            gone_.push_back(it->first);
        it = processes_.erase(it);
        return false;
    }
    it->second.last_ns = std::max(it->second.last_ns, reading->cpu_ns);
    // Every sample noted so far was taken before now: this reading covers them.
    it->second.read_at_ns = now;
    it->second.pending = 0;
    ++it;
    return true;
}

void ProcessCpuTimes::note_sample(int pid, std::uint64_t time_ns) {
    if (auto it = processes_.find(pid); it != processes_.end()) {
        it->second.pending += time_ns > it->second.read_at_ns;
        return;
    }
    if (auto retired = retired_read_at_.find(pid); retired != retired_read_at_.end())
        uncovered_ += time_ns > retired->second;
}

void ProcessCpuTimes::refresh() {
    refreshed_ns_ = monotonic_ns();
    for (auto it = processes_.begin(); it != processes_.end();)
        read_again(it);
}

void ProcessCpuTimes::refresh(int pid) {
    if (auto it = processes_.find(pid); it != processes_.end())
        read_again(it);
}

void ProcessCpuTimes::refresh_now_and_then(std::uint64_t now_ns) {
    if (now_ns >= refreshed_ns_ + 1'000'000'000)
        refresh();
}

std::uint64_t ProcessCpuTimes::total_ns() const {
    std::uint64_t total = retired_ns_;
    for (const auto& [pid, counted] : processes_)
        total += counted.used_ns();
    return total;
}

} // namespace sampler

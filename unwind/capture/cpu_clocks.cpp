#include "cpu_clocks.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/ioctl.h>

namespace sampler {

std::vector<int> parse_cpu_list(const std::string& text) {
    std::vector<int> cpus;
    std::istringstream ranges(text);
    for (std::string range; std::getline(ranges, range, ',');) {
        while (!range.empty() && (range.back() == '\n' || range.back() == ' '))
            range.pop_back();
        if (range.empty())
            continue;
        int first = -1, last = -1;
        char dash = 0;
        std::istringstream words(range);
        if (!(words >> first))
            return {};
        last = first;
        if (words >> dash && (dash != '-' || !(words >> last)))
            return {};
        // Bounded: a garbled file cannot make us open a million events.
        if (first < 0 || last < first || last >= 4096)
            return {};
        for (int cpu = first; cpu <= last; ++cpu)
            cpus.push_back(cpu);
    }
    return cpus;
}

bool in_initial_pid_namespace() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("NSpid:", 0) == 0) {
            std::istringstream ids(line.substr(6));
            int id = 0, count = 0;
            while (ids >> id)
                ++count;
            return count == 1;
        }
    return true; // a kernel too old to say has no PID namespaces to speak of here
}

std::vector<int> online_cpus() {
    std::ifstream file("/sys/devices/system/cpu/online");
    std::string text;
    std::getline(file, text);
    return parse_cpu_list(text);
}

std::vector<CpuClock> open_cpu_clocks(const perf_event_attr& attr, std::size_t ring_pages,
                                      std::size_t smallest_pages, int program_fd, int& error,
                                      std::string& why) {
    std::vector<CpuClock> clocks;
    const std::vector<int> cpus = online_cpus();
    if (cpus.empty()) {
        error = ENOENT;
        why = "cannot read the online CPUs from /sys/devices/system/cpu/online";
        return {};
    }
    // Opened stopped, and started only once the program is attached: until then it would record
    // every process on its CPU.
    perf_event_attr stopped = attr;
    stopped.disabled = 1;
    for (int cpu : cpus) {
        CpuClock clock;
        clock.cpu = cpu;
        clock.event = PerfEventFile::open_on_cpu(stopped, cpu, error);
        if (!clock.event.valid()) {
            why = "perf_event_open on CPU " + std::to_string(cpu) + ": " + std::strerror(error) +
                  (error == EACCES || error == EPERM ? " (per-CPU events need CAP_PERFMON, or root)" : "");
            return {};
        }
        bool mapped = false;
        for (std::size_t pages = ring_pages; !mapped; pages /= 2) {
            mapped = clock.ring.map(clock.event.fd(), pages, error);
            if (!mapped && (error != EPERM || pages / 2 < std::max<std::size_t>(smallest_pages, 1)))
                break;
        }
        if (!mapped) {
            why = "cannot map a ring for CPU " + std::to_string(cpu) + ": " + std::strerror(error);
            return {};
        }
        if (::ioctl(clock.event.fd(), PERF_EVENT_IOC_SET_BPF, program_fd) != 0) {
            // Without the program's filter it would record every process on the CPU.
            error = errno;
            why = "cannot attach the BPF program to CPU " + std::to_string(cpu) +
                  "'s clock: " + std::strerror(error);
            return {};
        }
        clocks.push_back(std::move(clock));
    }
    for (const CpuClock& clock : clocks)
        if (::ioctl(clock.event.fd(), PERF_EVENT_IOC_ENABLE, 0) != 0) {
            error = errno;
            why = "cannot start CPU " + std::to_string(clock.cpu) + "'s clock: " + std::strerror(error);
            return {};
        }
    return clocks;
}

std::vector<ForkBell> open_fork_bells(const std::vector<int>& cpus, int& error) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_DUMMY; // counts and samples nothing: task records alone
    attr.task = 1;
    attr.watermark = 1;
    attr.wakeup_watermark = 1; // any record wakes the poll
    std::vector<ForkBell> bells;
    for (int cpu : cpus) {
        ForkBell bell;
        bell.cpu = cpu;
        bell.event = PerfEventFile::open_on_cpu(attr, cpu, error);
        if (!bell.event.valid() || !bell.ring.map(bell.event.fd(), 1, error))
            return {};
        bells.push_back(std::move(bell));
    }
    return bells;
}

} // namespace sampler

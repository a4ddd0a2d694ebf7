#include "process_summary.hpp"

#include "top_text.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace sampler {
namespace {

constexpr std::size_t command_columns = 60;

std::string counts(std::uint64_t samples, std::uint64_t on_cpu, double periods) {
    char text[96];
    std::snprintf(text, sizeof text, "%llu samples, %.1f%% CPU", static_cast<unsigned long long>(samples),
                  periods > 0 ? 100.0 * double(on_cpu) / periods : 0.0);
    return text;
}

} // namespace

std::vector<std::string> format_process_summary(const std::map<int, ProcessRecord>& processes, double periods,
                                                std::size_t max_lines) {
    std::vector<std::pair<int, const ProcessRecord*>> order;
    for (const auto& [pid, process] : processes)
        order.emplace_back(pid, &process);
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
        return std::tie(a.second->on_cpu_samples, a.second->samples) >
               std::tie(b.second->on_cpu_samples, b.second->samples); // the map gave them by PID
    });
    const std::size_t shown = order.size() <= max_lines ? order.size() : (max_lines > 0 ? max_lines - 1 : 0);
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < shown; ++i) {
        const auto& [pid, process] = order[i];
        lines.push_back("process " + std::to_string(pid) + " (" +
                        fit_to_width(printable(process->command_line), command_columns) +
                        "): " + counts(process->samples, process->on_cpu_samples, periods));
    }
    if (shown < order.size()) {
        std::uint64_t samples = 0, on_cpu = 0;
        for (std::size_t i = shown; i < order.size(); ++i) {
            samples += order[i].second->samples;
            on_cpu += order[i].second->on_cpu_samples;
        }
        lines.push_back(std::to_string(order.size() - shown) +
                        " more processes: " + counts(samples, on_cpu, periods));
    }
    return lines;
}

} // namespace sampler

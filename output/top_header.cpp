#include "top_header.hpp"

#include "top_text.hpp"

#include <cstdio>

namespace sampler {
namespace {

std::string format(const char* pattern, auto... values) {
    char text[256];
    std::snprintf(text, sizeof text, pattern, values...);
    return text;
}

std::string statistics(const TopStatus& status) {
    std::string text = format("elapsed %.1f s", status.elapsed_seconds);
    if (status.counting_seconds >= 0)
        text += format(" (counting %.1f s)", status.counting_seconds);
    text += format("   samples %llu", static_cast<unsigned long long>(status.samples));
    text += status.achieved_rate_hz < 0 ? std::string("   rate --")
                                        : format("   rate %.1f", status.achieved_rate_hz);
    text += format(" of %g Hz", status.requested_rate_hz);
    if (status.kept_percent >= 0)
        text += format("   kept %.1f%%", status.kept_percent);
    text += format("   errors %.1f%%   threads sampled %zu",
                   top_error_percent(status.errors, status.thread_samples), status.threads_sampled);
    if (status.processes > 1)
        text += format("   processes %zu", status.processes);
    if (!status.python_version.empty())
        text += format("   GIL %.1f%%   active %.1f%%", status.gil_percent, status.active_percent);
    return text;
}

std::string view(const TopStatus& status) {
    std::string text;
    if (status.view.stalls) {
        text = "stall culprits since the start or R, sorted by Blocked";
    } else if (status.view.by_process) {
        text = std::string("by process, sorted by ") + top_process_sort_name(status.view.process_sort);
    } else {
        text = status.view.mode == TopMode::function ? "by function" : "by line";
        if (!status.process_label.empty())
            text += ", " + printable(status.process_label);
        text += ", " + printable(status.thread_label) + ", sorted by " + top_sort_name(status.view.sort);
    }
    text += format(", every %.1f s", status.delay_seconds);
    if (status.interactive)
        text += "   (? help, q quit)";
    return text;
}

std::string warnings(const TopStatus& status) {
    std::string text;
    if (status.kept_percent >= 0 && top_behind_rate(status.kept_percent, 100))
        text += format("BEHIND: kept %.1f%% of the samples the threads' CPU time called for",
                       status.kept_percent);
    else if (status.kept_percent < 0 && status.achieved_rate_hz >= 0 &&
             top_behind_rate(status.achieved_rate_hz, status.requested_rate_hz))
        text += format("BEHIND: sampling at %.1f Hz of %g Hz requested", status.achieved_rate_hz,
                       status.requested_rate_hz);
    if (status.paused)
        text +=
            std::string(text.empty() ? "" : "   ") + "PAUSED: display frozen, sampling goes on (P resumes)";
    return text;
}

} // namespace

bool top_behind_rate(double achieved_hz, double requested_hz) {
    return achieved_hz < 0.9 * requested_hz;
}

double top_error_percent(std::uint64_t errors, std::uint64_t thread_samples) {
    std::uint64_t attempts = errors + thread_samples;
    return attempts ? 100.0 * double(errors) / double(attempts) : 0.0;
}

std::vector<TopLine> format_top_header(const TopStatus& status, std::size_t width) {
    std::vector<TopLine> lines;
    std::string title = status.pids.size() == 1 ? "sampler top   PID " : "sampler top   PIDs ";
    for (std::size_t i = 0; i < status.pids.size(); ++i)
        title += (i == 0 ? "" : ",") + std::to_string(status.pids[i]);
    if (!status.command_line.empty())
        title += "   " + printable(status.command_line);
    if (!status.python_version.empty())
        title += "   Python " + printable(status.python_version);
    lines.push_back({fit_to_width(title, width), TopLineStyle::title});
    lines.push_back({fit_to_width(statistics(status), width), TopLineStyle::normal});
    if (status.stalls.watching)
        lines.push_back({fit_to_width(format_top_stall_line(status.stalls), width), TopLineStyle::normal});
    lines.push_back({fit_to_width(view(status), width), TopLineStyle::normal});
    std::string warning = warnings(status);
    if (!warning.empty() || status.interactive)
        lines.push_back({fit_to_width(warning, width), TopLineStyle::warning});
    return lines;
}

} // namespace sampler

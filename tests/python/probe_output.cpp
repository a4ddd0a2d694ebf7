#include "probe_output.hpp"

#include "child_process.hpp"

#include <sstream>

namespace sampler::testing {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t tab = line.find('\t', start);
        fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos)
            return fields;
        start = tab + 1;
    }
}

unsigned to_unsigned(const std::string& text) {
    return static_cast<unsigned>(std::strtoul(text.c_str(), nullptr, 10));
}

} // namespace

ProbeOutput parse_probe_output(const std::string& text) {
    ProbeOutput out;
    std::istringstream in(text);
    std::string line;
    ProbedThread* current = nullptr;
    while (std::getline(in, line)) {
        if (line.rfind("version ", 0) == 0) {
            auto fields = split_tabs(line.substr(8));
            out.version = fields[0];
            out.module = fields.size() > 1 ? fields[1] : "";
        } else if (line.rfind("gil ", 0) == 0) {
            out.gil_tid = std::atoi(line.c_str() + 4);
        } else if (line.rfind("name ", 0) == 0) {
            auto fields = split_tabs(line.substr(5)); // tid, name
            if (fields.size() >= 2)
                out.names[std::atoi(fields[0].c_str())] = fields[1];
        } else if (line.rfind("errors ", 0) == 0) {
            out.errors = std::atol(line.c_str() + 7);
        } else if (line.rfind("thread ", 0) == 0) {
            auto fields = split_tabs(line.substr(7)); // tid, "gil N", "truncated N"
            ProbedThread thread;
            thread.tid = std::atoi(fields[0].c_str());
            thread.holds_gil = fields.size() > 1 && fields[1] == "gil 1";
            thread.truncated = fields.size() > 2 && fields[2] == "truncated 1";
            current = &(out.threads[thread.tid] = thread);
        } else if (line.rfind("frame\t", 0) == 0 && current) {
            auto f = split_tabs(line);
            if (f.size() < 7)
                continue;
            current->frames.push_back(
                {f[1], f[2], to_unsigned(f[3]), to_unsigned(f[4]), f[5] == "1", f[6] == "1"});
        }
    }
    return out;
}

FixtureReport parse_fixture_report(const std::string& text) {
    FixtureReport report;
    std::istringstream in(text);
    std::string line;
    std::string role;
    while (std::getline(in, line)) {
        auto f = split_tabs(line);
        if (f[0] == "thread" && f.size() >= 3) {
            role = f[1];
            report.tids[role] = std::atoi(f[2].c_str());
            report.names[role] = f.size() >= 4 ? f[3] : "";
            report.frames[role];
        } else if (f[0] == "frame" && f.size() >= 5 && !role.empty()) {
            report.frames[role].push_back({f[1], f[2], to_unsigned(f[3]), to_unsigned(f[4])});
        }
    }
    return report;
}

unsigned marked_line(const std::string& path, const std::string& name) {
    std::istringstream in(read_text_file(path));
    std::string line;
    std::string marker = "# MARK: " + name;
    for (unsigned number = 1; std::getline(in, line); ++number) {
        std::size_t at = line.find(marker);
        if (at != std::string::npos && at + marker.size() == line.size())
            return number;
    }
    return 0;
}

std::string describe(const std::vector<ExpectedFrame>& frames) {
    std::string text;
    for (const ExpectedFrame& f : frames)
        text += "  " + f.name + " (" + f.file + ":" + std::to_string(f.line) + ", first " +
                std::to_string(f.first_line) + (f.is_entry ? ", entry" : "") + (f.valid ? "" : ", INVALID") +
                ")\n";
    return text;
}

} // namespace sampler::testing

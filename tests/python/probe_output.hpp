#pragma once
// Parsing what the tests compare: python_stack_probe's output and the fixture's own report of
// its stacks (the ready file written by fixtures/known_stack.py).

#include <map>
#include <string>
#include <vector>

namespace sampler::testing {

struct ExpectedFrame {
    std::string name;
    std::string file;
    unsigned line = 0;
    unsigned first_line = 0;
    bool is_entry = false;
    bool valid = true;
    bool operator==(const ExpectedFrame&) const = default;
};

struct ProbedThread {
    int tid = 0;
    bool holds_gil = false;
    bool truncated = false;
    std::vector<ExpectedFrame> frames;
};

struct ProbeOutput {
    std::string version;
    std::string module;
    int gil_tid = 0;
    long errors = -1;
    std::map<int, ProbedThread> threads; // by tid
    std::map<int, std::string> names;    // tid -> the name `threading` gives it
};

ProbeOutput parse_probe_output(const std::string& text);

struct FixtureReport {
    std::map<std::string, int> tids;                          // role -> tid
    std::map<std::string, std::string> names;                 // role -> threading's name
    std::map<std::string, std::vector<ExpectedFrame>> frames; // role -> CPython's own view
};

FixtureReport parse_fixture_report(const std::string& text);

// The line holding "# MARK: <name>" in a file (1-based); 0 when absent.
unsigned marked_line(const std::string& path, const std::string& name);

std::string describe(const std::vector<ExpectedFrame>& frames);

} // namespace sampler::testing

#pragma once
// Checks of flag values whose message says, in one line, what a valid value is:
// "--pid: expected a process ID (a positive integer), got 'abc'". They see the text as given,
// before CLI11 converts it, so a value that is not a number gets the same message.

#include <CLI/CLI.hpp>
#include <string>

namespace sampler {

// A whole number from `min` to `max`; `expected` describes it ("a process ID (a positive integer)").
CLI::Validator whole_number(const std::string& expected, long long min, long long max);

// A finite number from `min` to `max` (above `min` when `min_excluded`), fractions allowed.
CLI::Validator decimal_number(const std::string& expected, double min, double max, bool min_excluded = false);

// Any text but the empty one.
CLI::Validator non_empty(const std::string& expected);

} // namespace sampler

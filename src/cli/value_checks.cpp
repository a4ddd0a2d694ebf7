#include "value_checks.hpp"

#include <charconv>
#include <cmath>

namespace sampler {
namespace {

std::string complaint(const std::string& expected, const std::string& text) {
    return "expected " + expected + ", got " + (text.empty() ? "an empty value" : "'" + text + "'");
}

// The whole text must be the number: "5x", " 5" and "" are not numbers.
template <typename Number> bool parse_all(const std::string& text, Number& value) {
    const char* end = text.data() + text.size();
    auto [at, error] = std::from_chars(text.data(), end, value);
    return error == std::errc{} && at == end && !text.empty();
}

} // namespace

CLI::Validator whole_number(const std::string& expected, long long min, long long max) {
    return CLI::Validator(
        [=](std::string& text) {
            long long value = 0;
            return parse_all(text, value) && value >= min && value <= max ? std::string()
                                                                          : complaint(expected, text);
        },
        "");
}

CLI::Validator decimal_number(const std::string& expected, double min, double max, bool min_excluded) {
    return CLI::Validator(
        [=](std::string& text) {
            double value = 0;
            bool valid = parse_all(text, value) && std::isfinite(value) && value <= max &&
                         (min_excluded ? value > min : value >= min);
            return valid ? std::string() : complaint(expected, text);
        },
        "");
}

CLI::Validator non_empty(const std::string& expected) {
    return CLI::Validator(
        [=](std::string& text) { return text.empty() ? complaint(expected, text) : std::string(); }, "");
}

} // namespace sampler

#include "skips.hpp"

#include "skip_record.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

namespace sampler::testing {

std::vector<std::string>& skip_reasons() {
    static std::vector<std::string> reasons;
    return reasons;
}

void skip_part(const std::string& reason) {
    // A test case with sections runs once per section: each run notes the same missing parts.
    auto& reasons = skip_reasons();
    if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
        reasons.push_back(reason);
}

void skip_test(const std::string& reason) {
    skip_part(reason);
    // The one exception Catch takes as "this test case stops here" without counting a failure
    // (what a failed REQUIRE throws once it has recorded the failure).
    throw Catch::TestFailureException();
}

} // namespace sampler::testing

#pragma once
// A test that cannot run (missing interpreter, tool or capability) says so instead of passing:
// catch_main.cpp makes its process exit with skip_exit_code, which every test's CTest entry
// declares as its SKIP_RETURN_CODE, so CTest reports it as skipped with the reason in its output.
// Catch2 v2 has no skip of its own.

#include <string>

namespace sampler::testing {

// Keep in step with SKIP_RETURN_CODE in tests/CMakeLists.txt and tests/python/CMakeLists.txt.
inline constexpr int skip_exit_code = 77;

// Ends the running test case here. Before any assertion ran, the test case is skipped; after
// some did, it passes with this part reported as left out ("partly skipped").
[[noreturn]] void skip_test(const std::string& reason);

// Records a part the test leaves out and lets it go on (one interpreter of several missing).
// A test case that then checks nothing at all is skipped, otherwise partly skipped.
void skip_part(const std::string& reason);

} // namespace sampler::testing

#pragma once
// Between the skip calls the tests make (skips.cpp) and the listener that turns them into the
// process's exit status (skip_listener.cpp).

#include <string>
#include <vector>

namespace sampler::testing {

// What the running test case left out, in order, without repeats.
std::vector<std::string>& skip_reasons();

// The exit status for a run in which `failed` test cases failed (Catch::Session::run's result):
// the skip code when every test case that ran was skipped, else Catch's own.
int skip_exit_status(int failed);

} // namespace sampler::testing

// Catch2's main, with one change: a run in which every test case was skipped (skips.hpp) exits
// with the skip code instead of 0.
#define CATCH_CONFIG_RUNNER
#include "skip_record.hpp"

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
    return sampler::testing::skip_exit_status(Catch::Session().run(argc, argv));
}

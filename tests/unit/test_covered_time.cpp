#include "covered_time.hpp"

#include <catch2/catch.hpp>

using sampler::CoveredTime;

TEST_CASE("covered time: the union of spans, in or out of order, overlapping or not") {
    CoveredTime covered;
    covered.add(100, 200);
    covered.add(150, 250); // overlaps: 100-250
    covered.add(300, 400);
    covered.add(50, 60);
    covered.add(240, 310); // joins the two: 100-400
    covered.add(120, 130); // inside
    covered.add(70, 70);   // empty
    CHECK(covered.covered_ns() == 10 + 300);
}

TEST_CASE("covered time: a clock's back-to-back periods of different lengths cover the whole run") {
    // A thread on a CPU throughout, sampled by a clock whose period is redrawn: each sample
    // covers the period that ended at it, from the tick before.
    CoveredTime covered;
    const std::uint64_t start = 1'000'000;
    std::uint64_t tick = start;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        const std::uint64_t period = 500'000 + 150'000 * (i % 7);
        tick += period;
        covered.add(tick - period, tick);
    }
    CHECK(covered.covered_ns() == tick - start);
}

TEST_CASE("covered time: spans older than the window are settled, and a late one before them is clipped") {
    CoveredTime covered;
    const std::uint64_t window = CoveredTime::window_ns;
    covered.add(0, 10);
    covered.add(3 * window, 3 * window + 10); // settles the first
    CHECK(covered.covered_ns() == 20);
    covered.add(5, 15); // before what was settled: only 10-15 counts
    CHECK(covered.covered_ns() == 25);
    covered.add(0, 10); // settled long ago
    CHECK(covered.covered_ns() == 25);
    // Many spans far apart stay bounded in number (settled as the window moves on).
    for (std::uint64_t i = 4; i < 10'000; ++i)
        covered.add(i * window, i * window + 1);
    CHECK(covered.covered_ns() == 25 + (10'000 - 4));
}

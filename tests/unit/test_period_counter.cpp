#include "period_counter.hpp"

#include <catch2/catch.hpp>

using sampler::PeriodCounter;

TEST_CASE("period counter: each period counts once, in or out of order") {
    PeriodCounter periods;
    for (std::uint64_t period : {5, 3, 5, 4, 3, 1000, 999, 4})
        periods.add(period);
    CHECK(periods.count() == 5);
}

TEST_CASE("period counter: far past the window, old periods are settled and new ones still count") {
    PeriodCounter periods;
    const std::uint64_t window = PeriodCounter::window;
    for (std::uint64_t period = 0; period < 3 * window; period += 2)
        periods.add(period);
    CHECK(periods.count() == 3 * window / 2);
    periods.add(0);              // settled long ago
    periods.add(3 * window - 2); // already counted, in the window
    CHECK(periods.count() == 3 * window / 2);
    // A period that maps to a cleared slot of the ring is new.
    periods.add(3 * window + 1);
    CHECK(periods.count() == 3 * window / 2 + 1);
    // A jump of many windows at once.
    periods.add(100 * window);
    periods.add(100 * window - 1);
    periods.add(100 * window);
    CHECK(periods.count() == 3 * window / 2 + 3);
}

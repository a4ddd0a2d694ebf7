#include "own_cpu.hpp"

#include <catch2/catch.hpp>
#include <chrono>

using sampler::OwnCpuWindows;

namespace {

// Spends about `seconds` of this thread's CPU, so the windows have something to count.
void burn(double seconds) {
    const double until = sampler::own_cpu_seconds() + seconds;
    volatile std::uint64_t sink = 0;
    while (sampler::own_cpu_seconds() < until)
        for (int i = 0; i < 100000; ++i)
            sink = sink + static_cast<std::uint64_t>(i);
}

} // namespace

TEST_CASE("own CPU windows: from the first samples, and steady from a second later") {
    OwnCpuWindows windows;
    const std::uint64_t t0 = 1'000'000'000;
    windows.note(t0, 0); // no samples yet: nothing opens
    CHECK(windows.from_start(0).samples == 0);
    CHECK(windows.from_start(0).seconds == 0);

    windows.note(t0 + 10, 5); // the first samples open the first window
    windows.note(t0 + OwnCpuWindows::settle_ns - 1, 40);
    CHECK(windows.steady(40).samples == 0); // not yet a second after them
    CHECK(windows.steady(40).seconds == 0);

    windows.note(t0 + 10 + OwnCpuWindows::settle_ns, 60); // the steady window opens here
    burn(0.05);
    windows.note(t0 + 3 * OwnCpuWindows::settle_ns, 90); // later notes change neither start
    // Each figure reads this process's CPU when asked: the steady one first, so the one from
    // the start (opened earlier, read later) cannot come out smaller.
    const OwnCpuWindows::Figures steady = windows.steady(100);
    const OwnCpuWindows::Figures from_start = windows.from_start(100);
    CHECK(from_start.samples == 95);
    CHECK(steady.samples == 40);
    CHECK(steady.seconds >= 0.04);
    CHECK(from_start.seconds >= steady.seconds);
}

// SessionReport's kept rate, as record's summary prints it on either engine.
#include "sample_sink.hpp"

#include <catch2/catch.hpp>

using sampler::SessionReport;

TEST_CASE("the kept rate: requested rate times the share on perf_event, rounds per second on ptrace",
          "[report]") {
    SessionReport perf;
    perf.engine = "perf_event";
    perf.expected_samples = 1000;
    perf.received_samples = 950;
    perf.uncovered_samples = 50; // of ended processes: left out
    CHECK(perf.kept_rate(100).value() == Approx(90.0));

    SessionReport ptrace;
    ptrace.engine = "ptrace";
    ptrace.elapsed_seconds = 2;
    ptrace.ticks = 190;
    CHECK(ptrace.kept_rate(100).value() == Approx(95.0));
}

TEST_CASE("the kept rate is unknown when too few samples or rounds were called for", "[report]") {
    SessionReport perf; // a target asleep throughout called for none
    perf.engine = "perf_event";
    perf.expected_samples = 19;
    perf.received_samples = 0;
    CHECK_FALSE(perf.kept_rate(100).has_value());

    SessionReport ptrace; // a target that exited at once: 0.1 s at 100 Hz is 10 rounds
    ptrace.engine = "ptrace";
    ptrace.elapsed_seconds = 0.1;
    ptrace.ticks = 0;
    CHECK_FALSE(ptrace.kept_rate(100).has_value());
    ptrace.elapsed_seconds = 0.2; // 20 rounds called for: told
    ptrace.ticks = 20;
    CHECK(ptrace.kept_rate(100).value() == Approx(100.0));
}

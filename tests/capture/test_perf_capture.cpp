// The perf_event engine on this test's own threads (perf_event_open on one's own threads needs
// no privilege at perf_event_paranoid <= 2): samples arrive without any thread being stopped,
// only while a thread runs, from threads started after the events were opened too.

#include "perf_capture.hpp"
#include "proc_threads.hpp"
#include "skips.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <sys/syscall.h>
#include <thread>
#include <time.h>
#include <unistd.h>

namespace sampler {
namespace {

struct CountingHandler : PerfRecordHandler {
    std::map<int, int> samples_by_tid;
    int with_registers = 0;
    int stack_bytes_ok = 0;
    int thread_starts = 0;
    void on_sample(RawSample& sample) override {
        ++samples_by_tid[sample.tid];
        with_registers += sample.has_registers;
        stack_bytes_ok +=
            sample.stack_size > 0 && sample.snapshot.stack_start == sample.snapshot.registers.rsp;
    }
    void on_task_start(const PerfTaskRecord& task) override {
        thread_starts += task.pid == getpid() && task.tid != task.pid;
    }
};

int this_tid() {
    return static_cast<int>(::syscall(SYS_gettid));
}

// Spins until this thread has run for `duration` of CPU time: on a loaded machine that takes
// longer, but the samples it is owed stay the same.
void spin_on_cpu_for(std::chrono::milliseconds duration) {
    const auto on_cpu = [] {
        timespec now{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
    };
    const auto end = on_cpu() + duration;
    volatile std::uint64_t sink = 0;
    while (on_cpu() < end)
        for (int i = 0; i < 10000; ++i)
            sink = sink + i;
}

TEST_CASE("perf capture: a busy thread started later is sampled at its rate, a sleeping one is not") {
    PerfCaptureOptions options;
    options.rate_hz = 1000;
    options.stack_bytes = 8192;
    PerfCapture capture(options);
    PerfUnavailable why;
    if (!capture.add_process(getpid(), why)) {
        // Refused is a valid outcome (the engine then falls back), but it must say why.
        if (why.reason.empty())
            FAIL("perf_event_open refused without a reason");
        testing::skip_test("perf_event unavailable here: " + why.reason);
    }
    std::atomic<int> busy_tid{0};
    std::atomic<bool> sleeper_done{false};
    std::atomic<bool> busy_done{false};
    std::thread sleeper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        sleeper_done = true;
    });
    std::thread busy([&] {
        busy_tid = this_tid();
        spin_on_cpu_for(std::chrono::milliseconds(300));
        busy_done = true;
    });
    CountingHandler handler;
    while (!sleeper_done || !busy_done) {
        capture.wait(5);
        capture.drain(handler);
    }
    busy.join();
    sleeper.join();
    capture.drain(handler);

    CHECK(handler.thread_starts >= 2);
    const int busy_samples = handler.samples_by_tid[busy_tid.load()];
    // 300 ms on a CPU at 1000 Hz: about 300, however long a loaded machine made it take.
    CHECK(busy_samples > 200);
    CHECK(busy_samples < 400);
    CHECK(handler.with_registers > 0);
    // The kernel copies no stack bytes when the copy faults (a thread sampled while its stack is
    // being set up or torn down): rare, and such a sample is then treated as having no stack.
    CHECK(handler.stack_bytes_ok >= handler.with_registers * 99 / 100 - 1);
    CHECK(handler.stack_bytes_ok <= handler.with_registers);
    CHECK(capture.lost_records() == 0);
    // Expected from the CPU time the threads used: what was received matches it.
    const double expected = double(capture.on_cpu_nanoseconds()) * options.rate_hz / 1e9;
    int received = 0;
    for (auto& [tid, count] : handler.samples_by_tid)
        received += count;
    CHECK(received >= expected * 0.8);
    CHECK(received <= expected * 1.1 + 5);
}

// A busy thread spinning 300 ms of CPU, its tid known once it runs.
struct BusyThread {
    std::atomic<int> tid{0};
    std::atomic<bool> done{false};
    std::thread thread{[this] {
        tid = this_tid();
        spin_on_cpu_for(std::chrono::milliseconds(300));
        done = true;
    }};
    BusyThread() {
        while (tid == 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~BusyThread() { thread.join(); }
};

// Python-only sampling at 1000 Hz of this process; `received` counts every sample drained.
struct ThreadOnlyCapture {
    PerfCaptureOptions options = [] {
        PerfCaptureOptions thread_only;
        thread_only.rate_hz = 1000;
        thread_only.registers_and_stack = false;
        return thread_only;
    }();
    PerfCapture capture{options};
    PerfUnavailable why;
    int received = 0;

    // Drains until `thread` is done; its samples.
    int samples_of(BusyThread& thread) {
        CountingHandler handler;
        while (!thread.done) {
            capture.wait(5);
            capture.drain(handler);
        }
        capture.drain(handler);
        for (auto& [tid, count] : handler.samples_by_tid)
            received += count;
        return handler.samples_by_tid[thread.tid.load()];
    }

    // What was received matches the CPU time the sampled threads used, counted once.
    void check_received_matches_cpu_time() const {
        const double expected = double(capture.on_cpu_nanoseconds()) * options.rate_hz / 1e9;
        INFO("received " << received << ", expected " << expected);
        CHECK(received >= expected * 0.8);
        CHECK(received <= expected * 1.1 + 5);
    }
};

TEST_CASE("perf capture: a thread started after the listing, before the events opened, is sampled once") {
    ThreadOnlyCapture sampling;
    if (!PerfCapture::probe(getpid(), sampling.why))
        testing::skip_test("perf_event unavailable here: " + sampling.why.reason);
    // The listing misses the thread, and no event was open when it started: nothing inherited.
    const std::vector<int> listing = list_threads(getpid());
    BusyThread late;
    REQUIRE(sampling.capture.add_listed_threads(getpid(), listing, sampling.why));
    const int samples = sampling.samples_of(late);
    // 300 ms at 1000 Hz, less what it ran before its event opened.
    CHECK(samples > 200);
    CHECK(samples < 400);
    sampling.check_received_matches_cpu_time();
}

TEST_CASE("perf capture: a thread that inherited an event and was then given its own is counted once") {
    ThreadOnlyCapture sampling;
    if (!sampling.capture.add_process(getpid(), sampling.why))
        testing::skip_test("perf_event unavailable here: " + sampling.why.reason);
    BusyThread inheriting;                                         // inherits this thread's event
    REQUIRE(sampling.capture.add_process(getpid(), sampling.why)); // and now gets one of its own
    const int samples = sampling.samples_of(inheriting);
    CHECK(samples > 200);
    CHECK(samples < 400); // not twice
    sampling.check_received_matches_cpu_time();
}

} // namespace
} // namespace sampler

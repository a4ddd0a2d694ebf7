// The perf_event engine on this test's own threads (perf_event_open on one's own threads needs
// no privilege at perf_event_paranoid <= 2): samples arrive without any thread being stopped,
// only while a thread runs, from threads started after the events were opened too.

#include "kernel_python_walker.hpp"
#include "perf_capture.hpp"
#include "proc_threads.hpp"
#include "skips.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <map>
#include <optional>
#include <sys/syscall.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

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

namespace sampler {
namespace {

// A made-up interpreter in this process's own memory, as the kernel walker sees one: a thread
// state pointing at a chain of three frames, each pointing at a "code object".
struct FakeCode {
    std::uint64_t refcount = 1;
    std::uint64_t identity[2];
};
struct FakeFrame {
    const FakeCode* code;
    const FakeFrame* previous;
    std::uint64_t instruction;
};
struct FakeThreadState {
    std::uint64_t unused = 0;
    std::uint64_t thread_id = 0;
    const FakeFrame* frame = nullptr;
};

pw_layout fake_layout(const std::uint64_t* gil_holder) {
    pw_layout layout{};
    layout.thread_frame = offsetof(FakeThreadState, frame);
    layout.cframe_current = -1;
    layout.thread_id = offsetof(FakeThreadState, thread_id);
    layout.frame_begin = 0;
    layout.frame_size = sizeof(FakeFrame);
    layout.frame_previous = offsetof(FakeFrame, previous);
    layout.frame_code = offsetof(FakeFrame, code);
    layout.identity_begin = offsetof(FakeCode, identity);
    layout.identity_size = sizeof(FakeCode::identity);
    layout.max_frames = 8;
    layout.code_mask = ~std::uint64_t{0};
    layout.gil_holder = reinterpret_cast<std::uint64_t>(gil_holder);
    return layout;
}

struct WalkedRecords : PerfRecordHandler {
    int tid = 0;
    int walked = 0, perf_records = 0, exact = 0;
    int with_registers = 0; // samples with a stack copy (a perf record)
    int walk_near = 0;      // walks of this thread taken within 100 us of their sample's time
    const FakeThreadState* state = nullptr;
    void on_sample(RawSample& sample) override {
        if (sample.tid != tid)
            return;
        with_registers += sample.has_registers;
        if (!sample.python_walk) {
            ++perf_records;
            return;
        }
        ++walked;
        pw_header header{};
        REQUIRE(sample.python_walk_size >= sizeof header);
        std::memcpy(&header, sample.python_walk, sizeof header);
        const std::uint64_t apart = header.time_ns > sample.time_ns ? header.time_ns - sample.time_ns
                                                                    : sample.time_ns - header.time_ns;
        walk_near += static_cast<int>(header.tid) == sample.tid && apart <= 100'000;
        const std::uint32_t stride = 16 + sizeof(FakeFrame) + sizeof(FakeCode::identity);
        REQUIRE(header.stride == stride);
        REQUIRE(sample.python_walk_size == sizeof header + header.frames * stride);
        bool same = header.frames == 3 && header.thread_state == reinterpret_cast<std::uint64_t>(state) &&
                    header.innermost == reinterpret_cast<std::uint64_t>(state->frame) &&
                    header.gil_read == 1 && header.gil_holder == reinterpret_cast<std::uint64_t>(state);
        const FakeFrame* frame = state->frame;
        for (std::uint32_t i = 0; same && i < header.frames; ++i, frame = frame->previous) {
            const std::uint8_t* entry = sample.python_walk + sizeof header + i * stride;
            same = std::memcmp(entry + 16, frame, sizeof *frame) == 0 &&
                   std::memcmp(entry + 16 + sizeof *frame, frame->code->identity,
                               sizeof frame->code->identity) == 0;
        }
        exact += same;
    }
};

// The walker loaded and a 1000-Hz capture of this process's threads using it (with stack copies
// for `native`); the test is skipped where the kernel refuses either.
struct WalkerOnThisProcess {
    std::unique_ptr<KernelPythonWalker> walker;
    std::optional<PerfCapture> capture_storage;
    PerfCapture& capture;
    explicit WalkerOnThisProcess(bool native) : walker(load()), capture(open(native)) {}

  private:
    static std::unique_ptr<KernelPythonWalker> load() {
        std::string why_not;
        std::unique_ptr<KernelPythonWalker> loaded = KernelPythonWalker::load(why_not);
        if (!loaded) {
            if (why_not.empty())
                FAIL("the BPF program was refused without a reason");
            testing::skip_test("BPF unavailable here: " + why_not);
        }
        return loaded;
    }
    PerfCapture& open(bool native) {
        PerfCaptureOptions options;
        options.rate_hz = 1000;
        options.registers_and_stack = native;
        options.stack_bytes = 4096;
        options.wake_per_sample = true;
        options.python_walker = walker.get();
        PerfCapture& opened = capture_storage.emplace(options);
        PerfUnavailable why;
        if (!opened.add_process(getpid(), why))
            testing::skip_test("perf_event unavailable here: " + why.reason);
        return opened;
    }
};

// Three frames of two code objects, and the thread state at the innermost.
struct FakeInterpreter {
    const FakeCode codes[2] = {{1, {0x1111, 0x2222}}, {1, {0x3333, 0x4444}}};
    const FakeFrame outer{&codes[0], nullptr, 1};
    const FakeFrame middle{&codes[1], &outer, 2};
    const FakeFrame inner{&codes[0], &middle, 3};
    FakeThreadState state{0, 0xfeed, &inner};
    const std::uint64_t gil_holder = reinterpret_cast<std::uint64_t>(&state); // the GIL's holder word
};

// A thread spinning `cpu` with its thread state given to the walker as `thread_id`; its
// samples as `capture` delivers them.
// With `flicker`, the thread state's thread_id word alternates between matching and not every
// 2 ms of CPU, so that walks that finish and walks that fail come side by side.
WalkedRecords spin_known_thread_for(PerfCapture& capture, KernelPythonWalker& walker, FakeThreadState& state,
                                    std::uint64_t thread_id, std::chrono::milliseconds cpu,
                                    bool flicker = false) {
    WalkedRecords records;
    records.state = &state;
    std::atomic<bool> done{false};
    std::thread busy([&] {
        records.tid = this_tid();
        walker.set_thread(getpid(), records.tid, {reinterpret_cast<std::uint64_t>(&state), thread_id});
        if (flicker) {
            for (auto spun = std::chrono::milliseconds(0); spun < cpu; spun += std::chrono::milliseconds(2)) {
                spin_on_cpu_for(std::chrono::milliseconds(2));
                state.thread_id = state.thread_id == thread_id ? thread_id + 1 : thread_id;
            }
            state.thread_id = thread_id;
        } else {
            spin_on_cpu_for(cpu);
        }
        done = true;
    });
    while (!done) {
        capture.wait(5);
        capture.drain(records);
    }
    busy.join();
    capture.drain(records);
    return records;
}

} // namespace

TEST_CASE("perf capture: the kernel walker copies a known thread's frames at its samples, and hands back "
          "the others") {
    WalkerOnThisProcess sampling(false);
    KernelPythonWalker* walker = sampling.walker.get();
    PerfCapture& capture = sampling.capture;

    FakeInterpreter fake;
    REQUIRE(walker->set_layout(getpid(), fake_layout(&fake.gil_holder)));
    FakeThreadState& state = fake.state;
    auto spin_known_thread = [&](std::uint64_t thread_id, std::chrono::milliseconds cpu) {
        return spin_known_thread_for(capture, *walker, state, thread_id, cpu);
    };

    // 300 ms on a CPU at 1000 Hz: about 300, nearly all walked in the kernel, each exact (the
    // first few may precede set_thread).
    const WalkedRecords known = spin_known_thread(0xfeed, std::chrono::milliseconds(300));
    INFO("walked " << known.walked << ", perf records " << known.perf_records);
    CHECK(known.walked > 200);
    CHECK(known.exact == known.walked);
    CHECK(known.perf_records <= 10);
    const KernelPythonWalker::Counters counters = walker->counters();
    CHECK(counters.walked >= static_cast<std::uint64_t>(known.walked));
    CHECK(counters.samples == counters.walked + counters.handed_back);

    // A thread state whose thread_id no longer matches (freed, reused): its samples are perf
    // records again, read the slower way, never a walk of the wrong memory.
    state.thread_id = 0xbeef;
    const WalkedRecords changed = spin_known_thread(0xfeed, std::chrono::milliseconds(200));
    INFO("walked " << changed.walked << ", perf records " << changed.perf_records);
    CHECK(changed.walked == 0);
    CHECK(changed.perf_records > 100);
    CHECK(walker->counters().handed_back >= counters.handed_back + changed.perf_records);
    walker->forget_process(getpid());
    CHECK_FALSE(walker->knows_process(getpid()));
}

TEST_CASE("perf capture: the kernel walker wakes a waiting reader once its ring passes PW_WAKE_AT_BYTES, "
          "not at each sample") {
    WalkerOnThisProcess sampling(false);
    KernelPythonWalker* walker = sampling.walker.get();
    PerfCapture& capture = sampling.capture;

    // A chain of 250 frames: records of ~14 KiB, so the ring passes its mark after ~75 samples.
    FakeInterpreter fake;
    std::vector<FakeFrame> chain(250);
    for (std::size_t i = 0; i < chain.size(); ++i)
        chain[i] = {&fake.codes[i % 2], i + 1 < chain.size() ? &chain[i + 1] : nullptr, i};
    FakeThreadState state{0, 0xfeed, chain.data()};
    pw_layout layout = fake_layout(&fake.gil_holder);
    layout.max_frames = static_cast<std::uint32_t>(chain.size());
    REQUIRE(walker->set_layout(getpid(), layout));

    struct Walks : PerfRecordHandler {
        int tid = 0;
        int perf_records = 0;
        std::size_t bytes = 0;
        void on_sample(RawSample& sample) override {
            if (sample.tid != tid)
                return;
            perf_records += sample.python_walk == nullptr;
            bytes += sample.python_walk_size;
        }
    } walks;
    std::atomic<int> tid{0};
    std::atomic<bool> stop{false}, done{false};
    std::thread busy([&] {
        walker->set_thread(getpid(), this_tid(), {reinterpret_cast<std::uint64_t>(&state), 0xfeed});
        tid = this_tid();
        // Up to 5 s of CPU: ~20 times what three rounds to the mark take at 1000 Hz.
        for (int spun = 0; spun < 500 && !stop; ++spun)
            spin_on_cpu_for(std::chrono::milliseconds(10));
        done = true;
    });
    while (tid == 0)
        std::this_thread::yield();
    walks.tid = tid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    capture.drain(walks); // what came before the thread was known (perf records, which wake)

    // Walked samples alone from here: only the walker should end a wait before its 10 s. Three
    // rounds, each until the ring has passed its mark: a wake-up taken and acknowledged must not
    // leave the reader woken at every record after it. (A wait may also end on a rare perf
    // record of the test thread's own samples, which the walker does not know: a few are allowed.)
    for (int round = 0; round < 3; ++round) {
        const std::size_t bytes_before = walks.bytes;
        int waits = 0;
        while (walks.bytes - bytes_before < PW_WAKE_AT_BYTES && !done) {
            capture.wait(10'000);
            ++waits;
            capture.drain(walks);
            // As a session's work between two drains: records written meanwhile must not make
            // the next wait return at once.
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
        INFO("round " << round << ": walked " << walks.bytes - bytes_before << " bytes in " << waits
                      << " waits; perf records " << walks.perf_records);
        CHECK_FALSE(done); // woken while the thread still ran: the 10 s did not pass
        CHECK(waits <= 5); // not woken per sample
        // Nor too late: the ring never filled (a full ring hands samples back as perf records).
        CHECK(walks.bytes - bytes_before < PW_RING_BYTES / 2);
    }
    stop = true;
    busy.join();
    CHECK(walker->counters().ring_full == 0);
    walker->forget_process(getpid());
}

TEST_CASE("perf capture: with stack copies (--native) each walk is paired with its sample's perf record") {
    WalkerOnThisProcess sampling(true);
    KernelPythonWalker* walker = sampling.walker.get();
    PerfCapture& capture = sampling.capture;
    FakeInterpreter fake;
    pw_layout layout = fake_layout(&fake.gil_holder);
    layout.flags = PW_KEEP_PERF_RECORD;
    REQUIRE(walker->set_layout(getpid(), layout));

    // Every sample is a perf record with registers and stack; nearly all carry the walk taken in
    // the same overflow (the first few may precede set_thread): of the same thread, and
    // microseconds from the sample's time (a walk of the sample before would be a period away).
    const WalkedRecords known =
        spin_known_thread_for(capture, *walker, fake.state, 0xfeed, std::chrono::milliseconds(300));
    INFO("walked " << known.walked << ", not walked " << known.perf_records << ", with registers "
                   << known.with_registers);
    CHECK(known.with_registers == known.walked + known.perf_records);
    CHECK(known.walked > 200);
    CHECK(known.perf_records <= 10);
    CHECK(known.exact == known.walked);
    CHECK(known.walk_near >= known.walked * 9 / 10);

    // Walks that finish and walks that fail side by side: each walk written goes to its own
    // sample, and a sample whose walk failed is left a plain perf record, never given a
    // neighbour's walk.
    const KernelPythonWalker::Counters before = walker->counters();
    const WalkedRecords mixed =
        spin_known_thread_for(capture, *walker, fake.state, 0xfeed, std::chrono::milliseconds(400), true);
    const KernelPythonWalker::Counters after = walker->counters();
    const auto written = static_cast<int>(after.walked - before.walked); // by this thread alone
    INFO("mixed: walked " << mixed.walked << " of " << written << " written, not walked "
                          << mixed.perf_records);
    CHECK(mixed.walked > 50);
    CHECK(mixed.perf_records > 50);
    CHECK(mixed.walked <= written);
    CHECK(mixed.walked >= written - 2);
    CHECK(mixed.exact == mixed.walked);
    CHECK(mixed.walk_near >= mixed.walked * 9 / 10);

    // A walk that could not finish leaves its sample a plain perf record.
    fake.state.thread_id = 0xbeef;
    const WalkedRecords changed =
        spin_known_thread_for(capture, *walker, fake.state, 0xfeed, std::chrono::milliseconds(200));
    CHECK(changed.walked == 0);
    CHECK(changed.perf_records > 100);
    CHECK(changed.with_registers == changed.perf_records);
    walker->forget_process(getpid());
}

} // namespace sampler

// The perf_event session driven by a fake engine: a script of records replayed one drain at a
// time (samples of this test's own stack, thread and process exits, an exec, switches, lost
// records), checked against what the sinks receive and what the session reports. The target is a
// forked child (waiting, or spinning for --idle), so its mappings are this process's and a
// snapshot of our own thread unwinds against its modules. No perf event, no ptrace.

#include "own_thread_snapshot.hpp"
#include "perf_session.hpp"
#include "profile_builder.hpp"
#include "sampler/clock.hpp"
#include "sampler/error.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace sampler;

// Never inlined, outside any namespace: the names a replayed sample's stack must show.
extern "C" __attribute__((noinline)) void replay_test_inner(ThreadSnapshot& out) {
    own_thread_snapshot(out);
    asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void replay_test_outer(ThreadSnapshot& out) {
    replay_test_inner(out);
    asm volatile("" ::: "memory");
}

namespace {

const std::vector<std::string> known_chain{"own_thread_snapshot", "replay_test_inner", "replay_test_outer"};

// A fork of this process that waits (or spins: a thread /proc shows running) until it is killed
// and reaped, by end() or at the latest by the destructor, whatever the test did.
class ForkedTarget {
  public:
    explicit ForkedTarget(bool spin = false) {
        pid_ = ::fork();
        if (pid_ == 0) {
            while (spin)
                asm volatile("" ::: "memory");
            while (true)
                ::pause();
        }
        REQUIRE(pid_ > 0);
    }
    ~ForkedTarget() { end(); }
    ForkedTarget(const ForkedTarget&) = delete;
    ForkedTarget& operator=(const ForkedTarget&) = delete;

    void end() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    int pid() const { return pid_; }

  private:
    int pid_ = -1;
};

// What the fake engine replays and what the session asked of it.
struct Script {
    using Step = std::function<void(PerfRecordHandler&)>;
    std::vector<Step> steps; // one per drain, in order; later drains deliver nothing
    std::size_t next = 0;
    PerfUnavailable refusal; // add_process refuses with it when its error is set
    std::uint64_t lost = 0;
    std::uint64_t on_cpu_ns_at_stop = 0; // on_cpu_nanoseconds() is 0 until stop()
    bool kernel_time_excluded = false;
    // Filled by the session:
    PerfCaptureOptions options;
    std::vector<int> added;
    bool stopped = false;
};

class ScriptedSource final : public PerfRecordSource {
  public:
    explicit ScriptedSource(Script& script) : script_(script) {}
    bool add_process(int pid, PerfUnavailable& why) override {
        if (script_.refusal.error != 0) {
            why = script_.refusal;
            return false;
        }
        script_.added.push_back(pid);
        return true;
    }
    // Time passes as it would, a little: --idle's ticks are on the real clock.
    void wait(int timeout_ms) override {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(timeout_ms, 0, 2)));
    }
    std::size_t drain(PerfRecordHandler& handler) override {
        if (script_.next >= script_.steps.size())
            return 0;
        script_.steps[script_.next++](handler);
        return 1;
    }
    void stop() override { script_.stopped = true; }
    std::uint64_t lost_records() const override { return script_.lost; }
    std::uint64_t on_cpu_nanoseconds() const override {
        return script_.stopped ? script_.on_cpu_ns_at_stop : 0;
    }
    bool kernel_time_excluded() const override { return script_.kernel_time_excluded; }

  private:
    Script& script_;
};

struct ReceivedStack {
    ThreadInfo thread;
    std::vector<std::string> names; // innermost first
};

// Keeps what the session hands over (and passes it on to `next`, when given); ends the session
// when `go_on` says so after a round (it is told the rounds so far, this one included).
class RecordingSink final : public SampleSink {
  public:
    using GoOn = std::function<bool(const SessionReport&, std::size_t rounds)>;
    explicit RecordingSink(GoOn go_on, SampleSink* next = nullptr) : go_on_(std::move(go_on)), next_(next) {}
    void add_stack(const ThreadInfo& thread, const std::vector<Frame>& frames) override {
        ReceivedStack stack{thread, {}};
        for (const Frame& frame : frames)
            stack.names.push_back(frame.name);
        stacks.push_back(std::move(stack));
        if (next_)
            next_->add_stack(thread, frames);
    }
    bool end_of_round(const SessionReport& report) override { return go_on_(report, ++rounds); }
    void add_modules(const std::vector<ModuleRecord>& modules) override {
        ++module_handovers;
        modules_handed_over += modules.size();
        if (next_)
            next_->add_modules(modules);
    }

    std::vector<ReceivedStack> stacks;
    std::size_t rounds = 0;
    std::size_t module_handovers = 0;
    std::size_t modules_handed_over = 0;

  private:
    GoOn go_on_;
    SampleSink* next_;
};

RecordingSink::GoOn rounds_below(std::size_t limit) {
    return [limit](const SessionReport&, std::size_t rounds) { return rounds < limit; };
}

// A snapshot of this thread under replay_test_outer, taken once: its stack bytes are what every
// replayed sample points into.
const ThreadSnapshot& known_snapshot() {
    static const ThreadSnapshot snapshot = [] {
        ThreadSnapshot taken;
        replay_test_outer(taken);
        return taken;
    }();
    return snapshot;
}

// A sample as the kernel's ring holds it: registers, and the stack copy where it lies.
RawSample ring_sample(int pid, int tid, const ThreadSnapshot& snapshot) {
    RawSample sample;
    sample.pid = pid;
    sample.tid = tid;
    sample.time_ns = monotonic_ns();
    sample.has_registers = true;
    sample.snapshot.tid = tid;
    sample.snapshot.registers = snapshot.registers;
    sample.snapshot.stack_start = snapshot.stack_start;
    sample.stack_bytes = snapshot.stack.data();
    sample.stack_size = snapshot.stack.size();
    return sample;
}

Script::Step deliver_sample(int pid, int tid) {
    return [pid, tid](PerfRecordHandler& handler) {
        RawSample sample = ring_sample(pid, tid, known_snapshot());
        handler.on_sample(sample);
    };
}

SessionOptions options_for(int pid) {
    SessionOptions options;
    options.pids = {pid};
    options.rate_hz = 100;
    options.capture = CaptureChoice::perf;
    options.duration_seconds = 60; // a guard: every test ends its session long before
    return options;
}

SessionReport replay(Script& script, const SessionOptions& options, SampleSink& sink) {
    std::string why_not;
    auto report = run_perf_session(options, sink, why_not, [&script](const PerfCaptureOptions& capture) {
        script.options = capture;
        return std::make_unique<ScriptedSource>(script);
    });
    INFO(why_not);
    REQUIRE(report.has_value());
    return *report;
}

} // namespace

TEST_CASE("perf session, fake engine: each sample becomes its stack in the sinks, a round per drain",
          "[session][replay]") {
    ForkedTarget target;
    Script script;
    script.steps = {deliver_sample(target.pid(), target.pid()), deliver_sample(target.pid(), target.pid())};
    Profile profile;
    ProfileBuilder builder(profile, {});
    RecordingSink sink(rounds_below(3), &builder);
    const SessionReport report = replay(script, options_for(target.pid()), sink);

    CHECK(report.engine == "perf_event");
    CHECK(report.reason == StopReason::sink);
    CHECK(sink.rounds == 3);
    // A native target: the kernel is asked for registers and stacks, at the rate asked for.
    CHECK(script.options.registers_and_stack);
    CHECK_FALSE(script.options.wake_per_sample);
    CHECK(script.options.rate_hz == 100);
    CHECK(script.added == std::vector<int>{target.pid()});
    CHECK(script.stopped);

    CHECK(report.received_samples == 2);
    CHECK(report.thread_samples == 2);
    REQUIRE(sink.stacks.size() == 2);
    for (const ReceivedStack& stack : sink.stacks) {
        INFO(Catch::Detail::stringify(stack.names));
        CHECK(stack.thread.pid == target.pid());
        CHECK(stack.thread.tid == target.pid());
        CHECK(stack.thread.running());
        CHECK(testing::contains_in_order(stack.names, known_chain));
        CHECK(stack.names.front() == "own_thread_snapshot");
    }
    // record's sink aggregates them; the modules are handed over once, at the end.
    CHECK(profile.tree.total() == 2);
    CHECK(profile.processes[target.pid()].samples == 2);
    CHECK(sink.module_handovers == 1);
    CHECK(sink.modules_handed_over > 0);
    CHECK(profile.modules.count("session_tests") == 1);
}

TEST_CASE("perf session, fake engine: samples of processes it does not follow are left out",
          "[session][replay]") {
    ForkedTarget target;
    Script script;
    const int stranger = static_cast<int>(::getpid()); // not a target, and no --subprocesses
    script.steps = {deliver_sample(stranger, stranger), deliver_sample(target.pid(), target.pid()),
                    deliver_sample(stranger, stranger)};
    RecordingSink sink(rounds_below(3));
    const SessionReport report = replay(script, options_for(target.pid()), sink);

    CHECK(report.received_samples == 1);
    CHECK(report.thread_samples == 1);
    REQUIRE(sink.stacks.size() == 1);
    CHECK(sink.stacks[0].thread.pid == target.pid());
}

TEST_CASE("perf session, fake engine: a thread exits and the session goes on, the target exits and it ends",
          "[session][replay]") {
    ForkedTarget target;
    const int pid = target.pid();
    Script script;
    script.steps = {
        deliver_sample(pid, pid),
        [pid](PerfRecordHandler& handler) { handler.on_task_exit({.pid = pid, .tid = pid + 1}); },
        [pid, &target](PerfRecordHandler& handler) {
            target.end(); // the process is gone (and reaped) when its exit record is read
            handler.on_task_exit({.pid = pid, .tid = pid});
        },
    };
    RecordingSink sink(rounds_below(100));
    const SessionReport report = replay(script, options_for(pid), sink);

    CHECK(report.reason == StopReason::target_exited);
    CHECK(sink.rounds == 2); // the exit's round ends the session before the sink is asked
    CHECK(report.thread_samples == 1);
    CHECK(sink.stacks.size() == 1);
    // The ended target's modules still name its frames: handed over once, at the end.
    CHECK(sink.module_handovers == 1);
    CHECK(sink.modules_handed_over > 0);
}

TEST_CASE("perf session, fake engine: the samples of a process that ends are unwound before its sampler goes",
          "[session][replay]") {
    // Its samples are queued (copied out of the ring, unwound between drains); its exit record
    // comes in the same drain, when it is gone: they are unwound then, not dropped.
    ForkedTarget staying, ending;
    const int ended = ending.pid();
    Script script;
    script.steps = {
        [&ending, ended](PerfRecordHandler& handler) {
            RawSample sample = ring_sample(ended, ended, known_snapshot());
            handler.on_sample(sample);
            ending.end();
            handler.on_task_exit({.pid = ended, .tid = ended});
        },
        deliver_sample(staying.pid(), staying.pid()),
    };
    SessionOptions options = options_for(staying.pid());
    options.pids = {staying.pid(), ended};
    RecordingSink sink(rounds_below(3));
    const SessionReport report = replay(script, options, sink);

    CHECK(report.thread_samples == 2);
    REQUIRE(sink.stacks.size() == 2);
    CHECK(sink.stacks[0].thread.pid == ended);
    CHECK(testing::contains_in_order(sink.stacks[0].names, known_chain));
    CHECK(sink.stacks[1].thread.pid == staying.pid());
}

TEST_CASE("perf session, fake engine: an exec hands over the old program's modules and samples it anew",
          "[session][replay]") {
    ForkedTarget target;
    const int pid = target.pid();
    Script script;
    script.steps = {deliver_sample(pid, pid), [pid](PerfRecordHandler& handler) { handler.on_exec(pid); },
                    deliver_sample(pid, pid)};
    RecordingSink sink(rounds_below(3));
    const SessionReport report = replay(script, options_for(pid), sink);

    CHECK(report.execs == 1);
    CHECK(report.thread_samples == 2);
    REQUIRE(sink.stacks.size() == 2);
    CHECK(testing::contains_in_order(sink.stacks[0].names, known_chain));
    CHECK(testing::contains_in_order(sink.stacks[1].names, known_chain));
    CHECK(sink.module_handovers == 2); // the old program's at the exec, the new one's at the end
}

TEST_CASE("perf session, fake engine: lost records and the threads' CPU time give the kept share",
          "[session][replay]") {
    ForkedTarget target;
    Script script;
    script.steps = {deliver_sample(target.pid(), target.pid())};
    script.lost = 7;
    script.on_cpu_ns_at_stop = 2'000'000'000; // 2 s on a CPU at 100 Hz: 200 samples called for
    script.kernel_time_excluded = true;
    RecordingSink sink(rounds_below(2));
    const SessionReport report = replay(script, options_for(target.pid()), sink);

    CHECK(report.lost_samples == 7);
    CHECK(report.expected_samples == Approx(200));
    REQUIRE(report.kept_share());
    CHECK(*report.kept_share() == Approx(1.0 / 200));
    CHECK(report.kernel_time_excluded);
}

TEST_CASE("perf session, fake engine: a refusal returns the reason for the fallback, an ended target "
          "an error",
          "[session][replay]") {
    ForkedTarget target;
    RecordingSink sink(rounds_below(1));
    Script script;
    auto make_source = [&script](const PerfCaptureOptions&) {
        return std::make_unique<ScriptedSource>(script);
    };
    std::string why_not;

    script.refusal = {EACCES, "perf_event_paranoid is 4"};
    CHECK_FALSE(run_perf_session(options_for(target.pid()), sink, why_not, make_source).has_value());
    CHECK(why_not == "perf_event_paranoid is 4");

    script.refusal = {ESRCH, "no such process"};
    try {
        run_perf_session(options_for(target.pid()), sink, why_not, make_source);
        FAIL("no error for a target that ended");
    } catch (const Error& error) {
        CHECK(error.kind() == ErrorKind::no_such_process);
    }
    CHECK(sink.stacks.empty());
    CHECK(sink.rounds == 0);
}

TEST_CASE("perf session, fake engine: garbage in a sample gives a short stack or an error, never a crash",
          "[session][replay]") {
    ForkedTarget target;
    const int pid = target.pid();
    std::vector<std::uint8_t> garbage(4096);
    for (std::size_t i = 0; i < garbage.size(); ++i)
        garbage[i] = static_cast<std::uint8_t>(i * 131 + 7);
    Script script;
    auto deliver = [pid, &garbage](std::uint64_t pc, std::uint64_t sp, bool with_bytes) {
        return [=, &garbage](PerfRecordHandler& handler) {
            RawSample sample = ring_sample(pid, pid, known_snapshot());
            sample.snapshot.registers.rip = pc;
            sample.snapshot.registers.rsp = sp;
            sample.snapshot.stack_start = sp;
            sample.stack_bytes = with_bytes ? garbage.data() : nullptr;
            sample.stack_size = with_bytes ? garbage.size() : 0;
            handler.on_sample(sample);
        };
    };
    const std::uint64_t stack = known_snapshot().stack_start;
    const std::uint64_t code = known_snapshot().registers.rip;
    script.steps = {deliver(code, stack, true), deliver(0xdeadbeef, stack, true), deliver(code, 0, false),
                    deliver(0, 0, false), deliver_sample(pid, pid)};
    RecordingSink sink(rounds_below(6));
    const SessionReport report = replay(script, options_for(pid), sink);

    CHECK(report.received_samples == 5);
    CHECK(report.thread_samples == sink.stacks.size());
    // Every garbage sample ends early (an error, or a stack cut where its bytes stop making
    // sense: never one that reads as complete); the good one after them is whole.
    for (const ReceivedStack& received : sink.stacks)
        UNSCOPED_INFO("received: " << Catch::Detail::stringify(received.names));
    CHECK(report.errors + report.truncated >= 4);
    REQUIRE_FALSE(sink.stacks.empty());
    CHECK(testing::contains_in_order(sink.stacks.back().names, known_chain));
    for (const ReceivedStack& received : sink.stacks)
        CHECK(received.names.size() <= 1024);
}

TEST_CASE("perf session, fake engine: --idle samples a thread off its CPU at every tick with the stack it "
          "left with",
          "[session][replay][idle]") {
    ForkedTarget target(true); // running: the session takes no copy of a sleeping thread
    const int pid = target.pid();
    Script script;
    // It went off its CPU before sampling began (time 1): every tick finds it off.
    script.steps = {[pid](PerfRecordHandler& handler) {
        handler.on_switch({.pid = pid, .tid = pid, .time_ns = 1, .out = true, .preempted = false});
        RawSample sample = ring_sample(pid, pid, known_snapshot());
        sample.time_ns = 1;
        sample.off_cpu = true;
        handler.on_sample(sample);
    }};
    SessionOptions options = options_for(pid);
    options.stacks.include_idle = true;
    RecordingSink sink([](const SessionReport& report, std::size_t) { return report.ticks < 5; });
    const SessionReport report = replay(script, options, sink);

    CHECK(script.options.off_cpu);
    CHECK(report.received_samples == 0); // a switch's sample is not the clock's
    CHECK(report.ticks >= 5);
    CHECK(report.idle_samples == report.ticks);
    CHECK(report.thread_samples == report.idle_samples);
    REQUIRE(sink.stacks.size() == report.idle_samples);
    for (const ReceivedStack& stack : sink.stacks) {
        CHECK(stack.thread.off_cpu);
        CHECK(stack.thread.state == 'S'); // it went off to wait, not preempted
        CHECK(testing::contains_in_order(stack.names, known_chain));
    }
}

TEST_CASE("the share of the rate kept is told only when enough samples were called for", "[session]") {
    SessionReport report;
    report.received_samples = 3;
    report.expected_samples = SessionReport::min_expected_for_share - 1;
    CHECK_FALSE(report.kept_share());
    report.expected_samples = 0; // asleep throughout
    CHECK_FALSE(report.kept_share());
    report.expected_samples = 2 * SessionReport::min_expected_for_share;
    REQUIRE(report.kept_share());
    CHECK(*report.kept_share() == Approx(3 / (2 * SessionReport::min_expected_for_share)));
}

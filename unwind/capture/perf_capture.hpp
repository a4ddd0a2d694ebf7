#pragma once
// The perf_event capture engine: the kernel samples each thread of the target on its own timer
// (task-clock, so only while the thread is on a CPU) and, in the thread's own context, copies
// its user registers and the top of its user stack into a ring buffer we read. Nothing is ever
// stopped. Threads (and, with follow_children, processes) that start later inherit the event
// and write into the ring of the thread that created them; fork, exit, exec and new mappings
// arrive as records in the same rings, so no /proc file is read per sample.

#include "cpu_clocks.hpp"
#include "perf_record_source.hpp"
#include "perf_records.hpp"
#include "perf_ring.hpp"
#include "process_cpu_times.hpp"
#include "python_walk_abi.h"
#include "raw_sample.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <poll.h>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sampler {

struct PerfCaptureOptions {
    double rate_hz = 100;            // per thread, per second on a CPU
    bool registers_and_stack = true; // false: only which thread ran (Python-only sampling)
    std::size_t stack_bytes = 16384; // user stack copied per sample (multiple of 8, <= 65528)
    bool follow_children = false;    // processes forked later are sampled too
    bool wake_per_sample = false;    // wake the reader at every sample (Python frames are read then)
    // Wall-clock sampling (--idle): also report each thread going on and off its CPU and, with
    // registers_and_stack, a sample of its stack as it goes off (RawSample::off_cpu).
    bool off_cpu = false;
    // Walks Python frames in the kernel at each clock sample of a thread it knows (attached to
    // every clock event; samples it walks arrive from its ring, not as perf records). Not owned.
    KernelPythonWalker* python_walker = nullptr;
    // Samples come from one clock per CPU (cpu_clocks.hpp), filtered to the targets by the walker
    // (or by `sample_filter`), with the task records of every process, kept for the targets; no
    // event of any thread of theirs. Needs one of the two and not off_cpu; per-thread clocks
    // when the kernel refuses per-CPU events (per_cpu_refusal() says why).
    bool per_cpu = false;
    // The walker's program, loaded to filter per-CPU clocks where it walks nothing (native
    // programs): given no layout, it hands every target's sample back. Not owned.
    KernelPythonWalker* sample_filter = nullptr;
    // Per-CPU clocks following children: the kernel makes a target's new process a target at its
    // fork (KernelPythonWalker::follow_forks). False: only its fork's record does, read up to a
    // drain later, as on a kernel without BTF (the tests take that path this way too).
    bool kernel_follows_forks = true;
    // Per-CPU clocks following children: the records of other processes kept per drain (one may
    // be a child's whose fork is not handed on yet), a bound on memory when the machine forks
    // and maps without pause. One dropped counts as a lost record: /proc is listed for the
    // targets' children within a second (recover_lost_task_records).
    std::size_t max_side_band_records = 1 << 16;
};

class PerfCapture final : public PerfRecordSource {
  public:
    explicit PerfCapture(const PerfCaptureOptions& options);

    // Whether the kernel lets us open a clock event on `pid`'s main thread (and nothing more:
    // it samples nothing and is closed at once). False, with the reason, when refused.
    static bool probe(int pid, PerfUnavailable& why);
    PerfCapture(const PerfCapture&) = delete;
    PerfCapture& operator=(const PerfCapture&) = delete;

    // Opens events on every thread `pid` has now. Returns false (and says why) when the kernel
    // refuses the first event; threads that exit meanwhile are skipped.
    bool add_process(int pid, PerfUnavailable& why) override;
    // The same with a listing of its threads the caller took (tests: one taken before a thread
    // started). Threads the listing missed are found by listing again once the events are open.
    bool add_listed_threads(int pid, const std::vector<int>& tids, PerfUnavailable& why);
    // Waits up to `timeout_ms` for a ring to have records (or a thread to end).
    void wait(int timeout_ms) override;
    // Delivers every record written since the last drain; closes the rings of threads that
    // ended with no descendant still writing into them. Returns the number of samples.
    std::size_t drain(PerfRecordHandler& handler) override;

    // Stops sampling (every event, inherited copies included), so that a last drain and
    // on_cpu_nanoseconds() describe the same samples (with per-CPU clocks, the time read here).
    void stop() override;

    // With clocks per CPU, what task records a full ring dropped would have said, read from /proc
    // instead: children the targets forked since (when following children: they become
    // targets, handed on as task starts) and new mappings (each target's, handed on as one).
    // drain() calls it after a drain that counted lost records, at most once a second.
    void recover_lost_task_records(PerfRecordHandler& handler);

    // Wake-ups by the fork bells so far (cpu_clocks.hpp), at most max_bell_wakes a second.
    std::uint64_t fork_bell_wakes() const { return bell_wakes_total_; }
    // Per-CPU clocks following children: the kernel makes a target's child a target at its fork.
    bool follows_forks() const { return follows_forks_; }
    static constexpr unsigned max_bell_wakes = 100;
    // A walked clock's samples between two draws of its random period at `rate_hz`: the walker
    // wakes sampler after each such run of a CPU's samples. 64 from 512 Hz up; fewer below, down
    // to 8, so that a short window at a low rate still spans many draws (see
    // jitter_period_on_time).
    static std::uint64_t redraw_every(double rate_hz);
    // Periods set so far, on all clocks.
    std::uint64_t periods_drawn() const { return periods_drawn_; }

    // Samples lost: records the kernel dropped because a ring was full, and samples of a process
    // that never became a target here (see waiting_) or past the bounds of those waiting.
    std::uint64_t lost_records() const override { return lost_ + dropped_waiting_; }
    // Nanoseconds on a CPU of every sampled thread (exited ones included) since it was opened:
    // samples expected = this × rate.
    std::uint64_t on_cpu_nanoseconds() const override;
    std::uint64_t uncovered_samples() const override { return cpu_times_.uncovered_samples(); }
    // True when the kernel would not sample in kernel mode (perf_event_paranoid without
    // CAP_PERFMON): time in system calls then goes unsampled.
    bool kernel_time_excluded() const override { return exclude_kernel_; }
    KernelPythonWalker* python_walker() override { return options_.python_walker; }
    bool per_cpu_clocks() const override { return !cpu_clocks_.empty(); }
    std::string per_cpu_refusal() const override { return per_cpu_refusal_; }

  private:
    struct ThreadEvents {
        int pid = 0;
        int tid = 0;
        PerfEventFile ring_holder;    // a dummy event that owns the mmap'd ring
        PerfEventFile clock;          // task-clock, inherited by threads created later
        PerfEventFile switches;       // off_cpu with stacks: a sample at every switch off a CPU
        PerfEventFile switch_records; // off_cpu: switch on/off records (of this thread alone)
        PerfRing ring;
        bool ended = false;
        // Created after its creator's event was opened but before it was listed: the inherited
        // copy samples it too, into the creator's ring. Its own event is the one counted.
        bool also_inherited = false;
        ClockPeriod period; // its samples: of this thread itself, not of threads that inherited it
    };

    perf_event_attr clock_attributes() const;
    perf_event_attr one_thread_attributes() const;
    perf_event_attr switch_attributes() const;
    perf_event_attr switch_record_attributes() const;
    perf_event_attr ring_holder_attributes() const;
    perf_event_attr cpu_clock_attributes() const;
    // Opens the per-CPU clocks when asked for and allowed, before the first thread's events.
    void try_per_cpu_clocks();
    void drain_cpu_clocks(PerfRecordHandler& handler, std::size_t& samples);
    // After a poll: counts a wake-up by the fork bells (any event on them, an error too), and
    // mutes them once they reach max_bell_wakes in a second.
    void count_bell_wakes();
    void keep_side_band(const perf_event_header& header);
    // Hands on the kept task records up to `time_ns` (of the targets; others are held).
    void deliver_side_band_until(std::uint64_t time_ns, PerfRecordHandler& handler);
    // The program that keeps the targets' ticks of per-CPU clocks.
    KernelPythonWalker* filter() const {
        return options_.python_walker ? options_.python_walker : options_.sample_filter;
    }
    bool open_thread(int pid, int tid, int& error);
    // The thread's ring, smaller when the locked-memory limit wants it.
    bool open_ring(ThreadEvents& events, int& error);
    // off_cpu: a thread's switch records and, with stacks, its switch samples, into its ring.
    bool open_off_cpu_events(ThreadEvents& events, int& error);
    bool open_late_off_cpu_events(int pid, int tid);
    void handle(const perf_event_header& header, PerfRecordHandler& handler, std::size_t& samples);
    void jitter_period(ClockPeriod& period, const PerfEventFile& clock);
    void jitter_period_on_time(ClockPeriod& period, const PerfEventFile& clock);
    // Counts the samples the period in force gave beyond what the CPU time they cover called
    // for at the mean, and sets the clock's next period.
    void set_period(ClockPeriod& period, const PerfEventFile& clock, double period_ns);
    // The samples the period in force gave so far beyond what it would have at the mean: each
    // sample stands for one period of its target's CPU time.
    double excess_of_period_in_force(const ClockPeriod& period) const;
    // A sample's clock, for its period's jitter, by key: with per-CPU clocks its CPU's (key: the
    // CPU), else its thread's own (key: the tid). nullptr when it has none.
    std::pair<ClockPeriod*, const PerfEventFile*> clock_of_key(std::uint32_t key);
    // The period a clock ticks at now, in nanoseconds (the mean until one is drawn).
    std::uint64_t period_in_force(const ClockPeriod& period) const;
    // Walked samples' clocks whose period is due (by CPU, or with clocks per thread by thread),
    // redrawn once each after the drain that found them due.
    std::vector<std::uint32_t> due_redraws_;
    // Counts a sample of a clock that walked samples rule; due for a new period after
    // redraw_every(rate) since the last.
    void count_walked_clock_sample(ClockPeriod& period, std::uint32_t key, std::uint64_t time_ns);
    std::uint64_t periods_drawn_ = 0;
    void redraw_due_periods();
    // With stack copies (--native), the walker's records are not samples of their own but the
    // Python halves of perf records, paired with them (pair_walk).
    bool walks_are_halves() const { return options_.python_walker && format_.registers_and_stack; }
    // Without stack copies the walker's records are the samples (handed-back ones aside), and
    // its scheme sets the clocks' periods (jitter_period_on_time).
    bool walks_are_samples() const { return options_.python_walker && !format_.registers_and_stack; }
    // Whether each perf record wakes the reader (wake_per_sample). Not when it is the native half
    // of a walked sample: nothing of it is read from the target, and the walker wakes the reader
    // for the samples it hands back, whose Python frames are.
    bool wakes_at_each_sample() const { return options_.wake_per_sample && !walks_are_halves(); }
    // The samples the kernel's Python walker wrote since the last drain; with stack copies
    // (--native), the Python halves of perf records still to come, kept for them.
    void drain_python_walks(PerfRecordHandler& handler, std::size_t& samples);
    void hand_on_walk(const pw_header& header, const std::uint8_t* record, std::size_t size,
                      PerfRecordHandler& handler, std::size_t& samples);
    // Whether a walk or CPU-ring sample of `pid` waits for the fork record that makes it a
    // target here (see waiting_).
    bool waits_for_fork(int pid) const;
    // Keeps a record of `pid` that waits; `clock`: a perf sample's clock (index in cpu_clocks_),
    // -1 a walk.
    void keep_waiting(int pid, const std::uint8_t* bytes, std::size_t size, std::uint64_t time_ns, int clock,
                      bool held);
    // At the end of the CPU rings' drain: the task records left and the records that waited, in
    // time order; those whose process is still no target here wait one drain more, once (not
    // past the last drain, after stop()), and are then counted lost.
    void hand_on_waiting(PerfRecordHandler& handler, std::size_t& samples);
    void keep_walks(); // what the walker wrote since, kept by thread
    void keep_walk(const pw_header& header, const std::uint8_t* record, std::size_t size);
    // Gives a perf sample its walk (valid until the next call), when the walker wrote one.
    bool pair_walk(RawSample& sample);
    void spare_walk(std::vector<std::uint8_t>&& bytes);
    void forget_old_walks();
    // The events of `tid` when it has a clock event of its own (not only an inherited copy).
    ThreadEvents* with_own_clock(int tid);
    std::uint64_t counted_on_cpu_ns(const ThreadEvents& events) const;

    PerfCaptureOptions options_;
    PerfSampleFormat format_;
    bool exclude_kernel_ = false;
    std::size_t ring_pages_;
    std::vector<ThreadEvents> threads_;
    std::unordered_map<int, std::size_t> by_tid_; // tid -> index in threads_
    std::uint64_t lost_ = 0;
    std::uint64_t closed_on_cpu_ns_ = 0; // counts of rings already closed
    RawSample scratch_;                  // reused: its stack buffer keeps its capacity
    RawSample walked_;                   // a sample the kernel's Python walker wrote
    std::mt19937_64 random_{std::random_device{}()};
    ThreadEvents* draining_ = nullptr; // the thread whose ring is being drained
    std::vector<CpuClock> cpu_clocks_; // with per_cpu, when the kernel allowed them
    std::vector<int> clock_of_cpu_;    // CPU number -> index in cpu_clocks_, or -1
    CpuClock* draining_cpu_ = nullptr; // the CPU whose ring is being drained
    std::vector<ForkBell> fork_bells_; // per-CPU clocks, following children: wake at a fork
    bool unrecovered_loss_ = false;    // a CPU ring lost records (or we dropped one) since the last recovery
    std::uint64_t recovered_ns_ = 0;   // when recover_lost_task_records last ran
    // They ring for every process's threads too: at most max_bell_wakes a second wake us; past
    // that they are left out of the poll until the second ends, and wait() sleeps at most
    // 1/max_bell_wakes of a second meanwhile (a child is taken in within that).
    unsigned bell_wakes_ = 0; // in the second from bell_second_ns_
    std::uint64_t bell_wakes_total_ = 0;
    std::uint64_t bell_second_ns_ = 0; // when that second began
    bool bells_muted_ = false;
    bool per_cpu_tried_ = false;
    // Per-CPU clocks: the task records of every process, from the CPUs' rings merged in time
    // order, kept until the next sample after them is handed on (a child's fork, on one CPU,
    // comes before its exec, on another); those of processes not (yet) targets are kept one
    // drain more.
    struct SideBandRecord {
        std::uint64_t time_ns = 0;
        std::uint32_t type = 0;
        PerfTaskRecord task; // fork and exit; for exec and mmap, pid and tid alone
        bool held = false;   // kept from the drain before
    };
    std::vector<SideBandRecord> side_band_;           // this drain's, in time order
    std::size_t side_band_next_ = 0;                  // the first not handed on yet
    std::vector<SideBandRecord> side_band_unclaimed_; // for the next drain
    // Targets found gone (at a drain's look at their CPU time, or a child already gone when its
    // fork record was read), and when: for a second their exit records are still told, their
    // children's forks (written before they ended, read after) still claimed
    // through them, and their walks not kept waiting.
    std::unordered_map<int, std::uint64_t> gone_targets_;
    bool follows_forks_ = false; // the kernel makes targets' children targets
    // A child the kernel made a target at its fork (follow_forks) is sampled before sampler
    // reads that fork's record: its walks (the walker's ring is read before the CPUs'), and its
    // perf samples read before the record (a fork while the rings' ends were being taken).
    // Handed on before the record, they had
    // the session look into the child as a stranger, and drop its walks from before that look.
    // So they wait for the drain's end, and are then handed on in time order with the task
    // records; a process with records waiting has its later ones wait too (kept in order).
    struct WaitingRecord {
        std::uint64_t time_ns = 0;
        std::vector<std::uint8_t> bytes; // a walk (pw_header and frames) or a perf sample record
        int clock = -1;                  // a perf sample's clock (index in cpu_clocks_); -1: a walk
        bool held = false;               // waited a drain already
    };
    static constexpr std::size_t max_waiting_records = 4096;
    static constexpr std::size_t max_waiting_bytes = 64u << 20; // --native: stack copies
    std::vector<WaitingRecord> waiting_;
    std::uint64_t dropped_waiting_ = 0; // still no target's after a drain more, or past the bounds
    bool stopped_ = false;              // stop() was called: the next drain is the last, none waits past it
    std::optional<std::uint64_t> on_cpu_at_stop_ns_; // per-CPU clocks: the targets' CPU time at stop()
    std::size_t waiting_bytes_ = 0;
    std::unordered_set<int> waiting_pids_;         // processes with records in waiting_
    const WaitingRecord* handing_on_ = nullptr;    // the waiting sample hand_on_waiting is handling
    std::uint64_t swept_ns_ = 0;                   // its unclaimed entries last swept
    mutable ProcessCpuTimes cpu_times_;            // per-CPU clocks: the targets' CPU time (the kept share)
    std::string per_cpu_refusal_;                  // why per_cpu was asked for and not given
    std::vector<std::pair<int, int>> new_threads_; // (pid, tid) started since the last drain
    std::unordered_set<std::uint64_t> switch_stream_ids_; // samples taken at a switch, not by the clock
    struct PendingWalk {
        std::uint64_t time_ns = 0;
        std::vector<std::uint8_t> bytes;
    };
    std::unordered_map<int, std::deque<PendingWalk>> pending_walks_; // tid -> walks, oldest first
    std::vector<std::uint8_t> paired_walk_;                          // the walk of the sample being handled
    std::vector<std::vector<std::uint8_t>> spare_walks_;             // buffers for the next walks
    std::vector<pollfd> poll_fds_; // wait()'s, one per entry of threads_, rebuilt when they change
    bool poll_fds_stale_ = true;
};

} // namespace sampler

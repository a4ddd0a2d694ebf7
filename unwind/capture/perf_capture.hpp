#pragma once
// The perf_event capture engine: the kernel samples each thread of the target on its own timer
// (task-clock, so only while the thread is on a CPU) and, in the thread's own context, copies
// its user registers and the top of its user stack into a ring buffer we read. Nothing is ever
// stopped. Threads (and, with follow_children, processes) that start later inherit the event
// and write into the ring of the thread that created them; fork, exit, exec and new mappings
// arrive as records in the same rings, so no /proc file is read per sample.

#include "perf_record_source.hpp"
#include "perf_records.hpp"
#include "perf_ring.hpp"
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
    // on_cpu_nanoseconds() describe the same samples.
    void stop() override;

    // Records the kernel dropped because a ring was full.
    std::uint64_t lost_records() const override { return lost_; }
    // Nanoseconds on a CPU of every sampled thread (exited ones included) since it was opened:
    // samples expected = this × rate.
    std::uint64_t on_cpu_nanoseconds() const override;
    // True when the kernel would not sample in kernel mode (perf_event_paranoid without
    // CAP_PERFMON): time in system calls then goes unsampled.
    bool kernel_time_excluded() const override { return exclude_kernel_; }
    KernelPythonWalker* python_walker() override { return options_.python_walker; }

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
        std::uint64_t samples = 0;  // of this thread itself (not of threads that inherited the event)
        double mirrored_offset = 0; // the next period's offset from the mean, when not drawn anew
        bool draw_next = true;
        // set_period (with the walker): the period set last (0: none yet), the thread's CPU time then,
        // and how many samples the periods so far gave beyond what that time called for.
        double period_ns = 0;
        std::uint64_t count_at_period = 0;
        double samples_ahead = 0;
    };

    perf_event_attr clock_attributes() const;
    perf_event_attr one_thread_attributes() const;
    perf_event_attr switch_attributes() const;
    perf_event_attr switch_record_attributes() const;
    perf_event_attr ring_holder_attributes() const;
    bool open_thread(int pid, int tid, int& error);
    // The thread's ring, smaller when the locked-memory limit wants it.
    bool open_ring(ThreadEvents& events, int& error);
    // off_cpu: a thread's switch records and, with stacks, its switch samples, into its ring.
    bool open_off_cpu_events(ThreadEvents& events, int& error);
    bool open_late_off_cpu_events(int pid, int tid);
    void handle(const perf_event_header& header, PerfRecordHandler& handler, std::size_t& samples);
    void jitter_period(ThreadEvents& events);
    void jitter_period_on_time(ThreadEvents& events);
    // Sets the clock event's period (and, with the walker, counts the last one's excess).
    void set_period(ThreadEvents& events, double period_ns);
    // With stack copies (--native), the walker's records are not samples of their own but the
    // Python halves of perf records, paired with them (pair_walk).
    bool walks_are_halves() const { return options_.python_walker && format_.registers_and_stack; }
    // The samples the kernel's Python walker wrote since the last drain; with stack copies
    // (--native), the Python halves of perf records still to come, kept for them.
    void drain_python_walks(PerfRecordHandler& handler, std::size_t& samples);
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
    ThreadEvents* draining_ = nullptr;                    // the thread whose ring is being drained
    std::vector<std::pair<int, int>> new_threads_;        // (pid, tid) started since the last drain
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

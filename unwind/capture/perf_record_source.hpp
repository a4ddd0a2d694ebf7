#pragma once
// What the perf_event session reads its samples and task records from: the kernel's rings
// (PerfCapture), or in tests a script of records (a fake engine that drives the session and its
// sinks deterministically, with no perf event and no ptrace).

#include "perf_records.hpp"
#include "raw_sample.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace sampler {

class KernelPythonWalker;

// What the records of a drain tell, in the order they were written per ring.
class PerfRecordHandler {
  public:
    virtual ~PerfRecordHandler() = default;
    virtual void on_sample(RawSample& sample) = 0;
    virtual void on_task_start(const PerfTaskRecord&) {}
    virtual void on_task_exit(const PerfTaskRecord&) {}
    virtual void on_exec(int /*pid*/) {}
    virtual void on_new_mapping(int /*pid*/) {}
    virtual void on_switch(const PerfSwitchRecord&) {}
};

// Why the engine could not start on a process: the errno of the first refusal and a sentence
// a user can act on.
struct PerfUnavailable {
    int error = 0;
    std::string reason;
};

class PerfRecordSource {
  public:
    virtual ~PerfRecordSource() = default;
    // Starts sampling every thread `pid` has now (and those it starts later). False, with the
    // reason, when refused.
    virtual bool add_process(int pid, PerfUnavailable& why) = 0;
    // Waits up to `timeout_ms` for records.
    virtual void wait(int timeout_ms) = 0;
    // Delivers every record that arrived since the last drain. Returns the number of samples.
    virtual std::size_t drain(PerfRecordHandler& handler) = 0;
    // Stops sampling, so that a last drain and on_cpu_nanoseconds() describe the same samples.
    virtual void stop() = 0;
    // Records dropped because a ring was full.
    virtual std::uint64_t lost_records() const = 0;
    // Nanoseconds on a CPU of every sampled thread so far: samples expected = this x rate.
    virtual std::uint64_t on_cpu_nanoseconds() const = 0;
    // Samples that time does not cover (clocks per CPU: of processes that ended after their CPU
    // time was last read), to leave out of the kept share.
    virtual std::uint64_t uncovered_samples() const { return 0; }
    // Kernel mode is not sampled (no CAP_PERFMON): time in system calls goes unsampled.
    virtual bool kernel_time_excluded() const = 0;
    // The BPF program walking Python frames at the samples, when one is attached: the session
    // tells it the processes' layouts and threads it learns. nullptr: none.
    virtual KernelPythonWalker* python_walker() { return nullptr; }
    // Whether samples come from one clock per CPU (else from a clock per thread), and, when they
    // were asked for and refused, why.
    virtual bool per_cpu_clocks() const { return false; }
    virtual std::string per_cpu_refusal() const { return {}; }
};

} // namespace sampler

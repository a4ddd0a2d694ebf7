#pragma once
// Decoding the records the kernel writes into a perf ring buffer, for the attributes
// PerfCapture opens its events with. Record bodies are checked against their header's size:
// a record that does not fit is rejected, never read past.

#include "raw_sample.hpp"

#include <cstdint>
#include <linux/perf_event.h>

namespace sampler {

// Which optional parts a PERF_RECORD_SAMPLE carries: always TID, TIME and STREAM_ID (which
// event, inherited copies included, took it), plus REGS_USER and STACK_USER when native stacks
// are wanted.
struct PerfSampleFormat {
    bool registers_and_stack = false;
};

// The user registers PerfCapture asks for (sample_regs_user), as a bit mask of PERF_REG_X86_*:
// every general-purpose register libunwind may need, in the kernel's numbering.
std::uint64_t perf_user_register_mask();

// Fills `out` (pid, tid, time and, when present, registers and where the stack bytes lie in
// the record: out.stack_bytes points into `header`'s record) from a sample record. Returns false for a record
// too short for the format. A sample taken while the thread had no user context (a kernel thread) has no
// registers: `out.has_registers` stays false. `stream_id` receives the id of the event that took it.
bool decode_perf_sample(const perf_event_header& header, const PerfSampleFormat& format, RawSample& out,
                        std::uint64_t& stream_id);

// PERF_RECORD_FORK / PERF_RECORD_EXIT: a thread or process started or ended.
struct PerfTaskRecord {
    int pid = 0, ppid = 0, tid = 0, ptid = 0;
    std::uint64_t time_ns = 0;
};
bool decode_perf_task(const perf_event_header& header, PerfTaskRecord& out);

// PERF_RECORD_COMM (a thread renamed itself, or its process exec'd) and PERF_RECORD_MMAP2
// (new executable mappings) carry pid and tid first.
struct PerfPidTid {
    int pid = 0, tid = 0;
};
bool decode_perf_pid_tid(const perf_event_header& header, PerfPidTid& out);

// The time in a side-band record's sample_id trailer (sample_id_all with TID, TIME and
// STREAM_ID: pid, tid, time, stream id, last in the record). False when it is too short.
bool decode_sample_id_time(const perf_event_header& header, std::uint64_t& time_ns);

// When any record PerfCapture reads was written: a sample's time, or a side-band record's
// sample_id trailer's. False when it is too short to say.
bool decode_record_time(const perf_event_header& header, std::uint64_t& time_ns);

// PERF_RECORD_SWITCH: the thread went onto (or, with `out`, off) a CPU; `preempted` when it
// went off still runnable. Its body is the sample_id trailer (TID, TIME, STREAM_ID).
struct PerfSwitchRecord {
    int pid = 0, tid = 0;
    std::uint64_t time_ns = 0;
    bool out = false;
    bool preempted = false;
};
bool decode_perf_switch(const perf_event_header& header, PerfSwitchRecord& out);

// PERF_RECORD_LOST: how many records the kernel dropped because the ring was full.
bool decode_perf_lost(const perf_event_header& header, std::uint64_t& lost);

} // namespace sampler

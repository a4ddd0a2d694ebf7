#pragma once
// The sampling loop on the perf_event engine: the kernel samples each thread on its own CPU
// clock and copies its registers and stack; we read the rings, read Python frames at once, and
// unwind, symbolize and aggregate as samples arrive. No thread is ever stopped.

#include "perf_capture.hpp"
#include "sampling_session.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sampler {

// nullopt (with the reason in `why_not`) when the kernel refuses perf events for the target,
// before anything was sampled: the caller falls back to the ptrace engine.
std::optional<SessionReport> run_perf_session(const SessionOptions& options, SampleSink& sink,
                                              std::string& why_not);

// The same loop reading its records from the source `make_source` returns for the capture
// options the session chose (tests: a fake engine that replays a script of records).
using PerfSourceFactory = std::function<std::unique_ptr<PerfRecordSource>(const PerfCaptureOptions&)>;
std::optional<SessionReport> run_perf_session(const SessionOptions& options, SampleSink& sink,
                                              std::string& why_not, const PerfSourceFactory& make_source);

} // namespace sampler

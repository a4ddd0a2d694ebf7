#pragma once
// pprof's format: a gzip-compressed profile.proto message (github.com/google/pprof, proto/
// profile.proto), readable by `go tool pprof`, pprof's web UI and the many tools that import it.
//
// Two sample types, samples/count and cpu/nanoseconds (count times the sampling period). Each
// sample is one (thread, stack) with labels thread_id, thread_name and pid, so pprof can filter
// or group by thread (-tagfocus, -tags). Frames inlined into one machine address share one
// location with several lines, innermost first. Native frames are aggregated by function, so a
// native location's address is its function's entry, inside a mapping that carries the module's
// path, address range (in the first process it was seen in) and build-id. Functions carry their
// file and start line (DW_AT_decl_line; co_firstlineno for Python).

#include "sampler/profile.hpp"

#include <string>

namespace sampler {

// The uncompressed profile.proto message; separate so tests can decode it.
std::string encode_pprof(const Profile& profile);

// encode_pprof, gzip-compressed: what a .pb.gz file holds.
std::string render_pprof(const Profile& profile);

} // namespace sampler

#pragma once
// Everything an output needs: the aggregated call tree, its frames, and facts about the run.

#include "sampler/call_tree.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sampler {

struct ProfileInfo {
    int pid = 0;
    std::string command_line; // the target's command line, for titles
    std::string title;        // overrides the default title when not empty
    double duration_seconds = 0;
    double requested_rate_hz = 0;
    std::uint64_t samples = 0;         // sampling ticks taken
    std::uint64_t errors = 0;          // thread samples that could not be taken or unwound
    std::int64_t start_unix_nanos = 0; // wall-clock start of the recording; 0 when unknown
};

// A thread that contributed samples; referred to by its index in Profile::threads.
struct ThreadRecord {
    int pid = 0;
    int tid = 0;
    std::string name;
};

// A process that contributed stacks: the end-of-record summary gives each its line.
struct ProcessRecord {
    std::string command_line;
    std::uint64_t samples = 0;        // stacks
    std::uint64_t on_cpu_samples = 0; // ... of threads sampled running (not --idle's sleeping ones)
};

// One sample in time order, for formats that show time (speedscope, Chrome trace). 12 bytes:
// the stack is the call tree's leaf node, and time is a delta so it fits 32 bits however long
// the recording runs.
struct TimelineSample {
    CallTree::NodeId leaf = 0;
    std::uint32_t micros_since_previous = 0; // since the previous sample (any thread), saturating
    std::uint32_t thread = 0;                // index in Profile::threads
};

// An ELF module that native frames name (Frame::module), for formats with mappings (pprof).
struct ModuleRecord {
    std::string path;        // as the target sees it
    std::string build_id;    // lowercase hex; empty when the file has no build-id note
    std::uint64_t start = 0; // mapped address range, in the first process it was seen in
    std::uint64_t end = 0;
    std::uint64_t bias = 0; // run-time address minus link-time address there
};

struct Profile {
    FrameTable frames;
    CallTree tree;
    ProfileInfo info;

    // Filled by the builder; empty for profiles read from folded files. thread_stacks and
    // inlined_into_parent only when the builder is asked (pprof writes them).
    std::vector<ThreadRecord> threads;
    std::map<int, ProcessRecord> processes; // by PID
    // Samples per (thread index, leaf node): pprof labels samples by thread, and a per-thread
    // split of the tree costs memory per distinct stack, not per sample.
    std::map<std::pair<std::uint32_t, CallTree::NodeId>, std::uint64_t> thread_stacks;
    // Nodes whose frame was inlined into the parent node's frame (same machine address), so
    // pprof can put them into one location. A node counts when it was inlined in any sample.
    std::set<CallTree::NodeId> inlined_into_parent;
    // Only recorded when the output needs it (ProfileBuilder's record_timeline).
    std::vector<TimelineSample> timeline;
    // By Frame::module (a basename); the first module of a name wins.
    std::map<std::string, ModuleRecord> modules;

    FrameId intern(const Frame& frame) { return frames.intern(frame); }
};

} // namespace sampler

#pragma once
// Thread ids of a process that lives in a PID namespace below ours (every container). The
// process knows its threads by the ids of its own namespace (gettid() there: what CPython
// records in its thread states); /proc, ptrace and the kernel's samples give ours.
// /proc/PID/task/TID/status lists a thread's id in each namespace from ours down to its own
// (`NSpid:`), so one pass over the threads maps the ids both ways.
//
//   NamespaceTids tids(pid);
//   int ours = tids.host_tid(recorded_by_the_target); // 0: no such thread (now)

#include <chrono>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sampler {

class NamespaceTids {
  public:
    // Reads whether `pid` is in another PID namespace than ours, once: a process never changes
    // its own. pid 0 (no process: tests on synthetic memory) maps every id to itself.
    explicit NamespaceTids(int pid);

    // True when the process sees other thread ids than we do.
    bool nested() const { return nested_; }

    // Our id of the thread the process knows as `inner`: `inner` itself when not nested; 0
    // when no thread of the process has that id. An id not known yet re-reads the thread list,
    // at most every few milliseconds, and an id that stayed unknown at most once a second: a
    // stale id read from the target costs no /proc reads per sample.
    int host_tid(int inner);

    // The ids in an `NSpid:` line of a status file, ours first; empty without one.
    static std::vector<int> parse_nspid(std::string_view status);

  private:
    bool may_refresh_for(int inner) const;
    void refresh();

    int pid_;
    bool nested_ = false;
    std::unordered_map<int, int> host_by_inner_;
    std::unordered_set<int> unknown_; // ids a refresh did not find, bounded
    std::chrono::steady_clock::time_point refreshed_at_{};
};

} // namespace sampler

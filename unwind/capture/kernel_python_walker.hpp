#pragma once
// The BPF program that walks a Python thread's frames in the kernel at its perf sample
// (bpf/python_walk.bpf.c), loaded and fed: each process's layout and each known thread's
// state go into its maps; its records come out of a BPF ring buffer that is read at each
// drain, not at each sample, so a sample of a known thread wakes nobody and stops nothing.
// A sample the program cannot finish is handed back: the perf event writes its usual record.

#include "python_walk_abi.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

struct bpf_link;
struct bpf_object;
struct ring_buffer;

namespace sampler {

class KernelPythonWalker {
  public:
    // The program loaded and verified; nullptr, with the reason, when the kernel refuses it
    // (no CAP_BPF and CAP_PERFMON, BPF disabled, a kernel without bpf_loop: before 5.17).
    static std::unique_ptr<KernelPythonWalker> load(std::string& why_not);
    ~KernelPythonWalker();
    KernelPythonWalker(const KernelPythonWalker&) = delete;
    KernelPythonWalker& operator=(const KernelPythonWalker&) = delete;

    // For PERF_EVENT_IOC_SET_BPF on each clock event (inherited copies run it too).
    int program_fd() const { return program_fd_; }

    // Where `pid`'s interpreter keeps its frames. False when the map refused it.
    bool set_layout(int pid, const pw_layout& layout);
    bool knows_process(int pid) const { return layouts_.contains(pid); }
    // `tid`'s thread state, as found by a read of its frames; a call with what is already set
    // costs nothing.
    void set_thread(int pid, int tid, const pw_thread& thread);
    // Process `child`, just forked by thread `parent_tid` of `parent`, is walked as its parent
    // is: until it execs it has a copy of its parent's memory, so the parent's layout holds, and
    // its one thread `child_tid` runs on the forking thread's thread state. Its samples are then
    // walked from its first, instead of handed back until a slower read finds its thread (a
    // process that lives for a moment may end before). False when the walker knows no layout of
    // the parent (the child is then read as any new process), or a map refused it.
    bool inherit_from_parent(int child, int child_tid, int parent, int parent_tid);
    void forget_thread(int tid);
    // The process ended or exec'd: its layout and threads go.
    void forget_process(int pid);

    // Per-CPU clocks: the program drops the samples of every process but the targets.
    bool sample_only_targets(bool only);
    // The program wakes the reader after every `samples` walked samples of a CPU (0: only when
    // the ring fills), so that the reader can give a clock a new period on time.
    bool wake_every(std::uint32_t samples);
    bool add_target(int pid);
    void forget_target(int pid);
    bool has_target(int pid) const { return targets_.contains(pid); }
    const std::unordered_set<int>& targets() const { return targets_; }
    // Per-CPU clocks with --subprocesses: a process a target forks becomes a target at its fork,
    // in the kernel, walked as its parent (inherit_from_parent's entries, made before it first
    // runs), instead of when sampler reads the fork's record, up to a drain later: until then
    // its samples were dropped. The record still makes it a target here (add_target). False
    // without the kernel's BTF (to find task_struct's pid and tgid in), or when the kernel refused
    // to attach it.
    bool follow_forks();
    // Entries the kernel made at a fork that this side never took on (the fork's record lost,
    // or its child gone before it was read): taken out once seen unclaimed twice. Once a second.
    void forget_unclaimed_entries();

    // Calls `on_record` with each record (a pw_header and its frames) written since the last
    // drain; the bytes are valid during the call. Returns how many.
    std::size_t drain(const std::function<void(const std::uint8_t*, std::size_t)>& on_record);
    // Readable (poll) once the program has woken the reader (the ring passed PW_WAKE_AT_BYTES, or
    // a CPU wrote wake_every records), until acknowledge_wake(), which the reader calls before it
    // drains.
    int wake_fd() const { return wake_epoll_fd_; }
    void acknowledge_wake();

    struct Counters {
        std::uint64_t samples = 0;        // the program ran
        std::uint64_t walked = 0;         // ... and wrote a record
        std::uint64_t handed_back = 0;    // ... and left the sample to the perf record
        std::uint64_t ring_full = 0;      // ... walked, but the ring had no room (handed back too)
        std::uint64_t forks_followed = 0; // children made targets at their fork (follow_forks)
    };
    Counters counters() const;

  private:
    KernelPythonWalker() = default;
    static int on_ring_record(void* self, void* data, std::size_t size);

    bpf_object* object_ = nullptr;
    bpf_link* fork_link_ = nullptr; // the fork follower, attached to sched_process_fork
    std::unordered_set<std::uint32_t> unclaimed_targets_, unclaimed_layouts_, unclaimed_threads_;
    ring_buffer* ring_ = nullptr;
    int program_fd_ = -1;
    int layouts_fd_ = -1;
    int threads_fd_ = -1;
    int counters_fd_ = -1;
    int targets_fd_ = -1;
    int settings_fd_ = -1;
    pw_settings settings_{}; // as last written to the map `settings`
    bool write_settings();
    std::unordered_set<int> targets_;            // what the map `targets` holds
    int wake_epoll_fd_ = -1;                     // owned: see wake_fd()
    std::unordered_map<int, pw_layout> layouts_; // the layouts set, by process
    struct Thread {
        int pid = 0;
        pw_thread state{};
    };
    std::unordered_map<int, Thread> threads_; // tid -> what its map entry holds
    const std::function<void(const std::uint8_t*, std::size_t)>* on_record_ = nullptr;
    std::size_t drained_ = 0;
};

} // namespace sampler

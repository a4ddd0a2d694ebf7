#include "kernel_python_walker.hpp"

#include "kernel_task_fields.hpp"
#include "python_walk_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <sys/epoll.h>
#include <unistd.h>
#include <vector>

namespace sampler {

namespace {

// libbpf's messages while loading: kept (the last lines say why the verifier refused), not
// printed, as a refusal only means the slower way of reading frames.
std::string* load_log = nullptr;

int keep_message(libbpf_print_level level, const char* format, va_list arguments) {
    if (load_log && level != LIBBPF_DEBUG) {
        char line[512];
        std::vsnprintf(line, sizeof line, format, arguments);
        *load_log += line;
        if (load_log->size() > 4096)
            load_log->erase(0, load_log->size() - 4096);
    }
    return 0;
}

std::string refusal(int error, const std::string& log) {
    if (error == EPERM)
        return "the kernel refused to load a BPF program (it needs root, or CAP_BPF and CAP_PERFMON)";
    std::string reason = "the kernel refused the BPF program: " + std::string(std::strerror(error)) +
                         " (walking frames in BPF needs Linux 5.17 or later)";
    // The verifier's last line, when it said something.
    std::size_t end = log.find_last_not_of('\n');
    if (end != std::string::npos) {
        std::size_t begin = log.rfind('\n', end);
        reason += ": " + log.substr(begin == std::string::npos ? 0 : begin + 1, end - begin);
    }
    return reason;
}

} // namespace

std::unique_ptr<KernelPythonWalker> KernelPythonWalker::load(std::string& why_not) {
    std::unique_ptr<KernelPythonWalker> walker(new KernelPythonWalker);
    std::string log;
    load_log = &log;
    libbpf_print_fn_t previous = libbpf_set_print(keep_message);
    struct Restore {
        libbpf_print_fn_t previous;
        ~Restore() {
            libbpf_set_print(previous);
            load_log = nullptr;
        }
    } restore{previous};

    bpf_object_open_opts options{};
    options.sz = sizeof options;
    options.object_name = "sampler_python_walk";
    walker->object_ =
        bpf_object__open_mem(embedded::python_walk_object, embedded::python_walk_object_size, &options);
    if (!walker->object_) {
        why_not = refusal(errno, log);
        return nullptr;
    }
    if (int error = bpf_object__load(walker->object_); error != 0) {
        why_not = refusal(-error, log);
        return nullptr;
    }
    bpf_program* program = bpf_object__find_program_by_name(walker->object_, "walk_python");
    walker->program_fd_ = program ? bpf_program__fd(program) : -1;
    walker->layouts_fd_ = bpf_object__find_map_fd_by_name(walker->object_, "layouts");
    walker->threads_fd_ = bpf_object__find_map_fd_by_name(walker->object_, "threads");
    walker->counters_fd_ = bpf_object__find_map_fd_by_name(walker->object_, "counters");
    walker->targets_fd_ = bpf_object__find_map_fd_by_name(walker->object_, "targets");
    walker->settings_fd_ = bpf_object__find_map_fd_by_name(walker->object_, "settings");
    const int records_fd = bpf_object__find_map_fd_by_name(walker->object_, "records");
    if (walker->program_fd_ < 0 || walker->layouts_fd_ < 0 || walker->threads_fd_ < 0 ||
        walker->counters_fd_ < 0 || walker->targets_fd_ < 0 || walker->settings_fd_ < 0 || records_fd < 0) {
        why_not = "the BPF program built into sampler lacks a part (a build problem)";
        return nullptr;
    }
    walker->ring_ = ring_buffer__new(records_fd, &KernelPythonWalker::on_ring_record, walker.get(), nullptr);
    if (!walker->ring_) {
        why_not = "cannot map the BPF ring buffer: " + std::string(std::strerror(errno));
        return nullptr;
    }
    // Edge-triggered, on an epoll set of our own: readable after the program's wake-up until
    // acknowledge_wake(). (libbpf's set is level-triggered: once woken it would stay readable
    // while the ring holds any record, and the reader would be woken per sample.)
    walker->wake_epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event watch{};
    watch.events = EPOLLIN | EPOLLET;
    watch.data.fd = records_fd;
    if (walker->wake_epoll_fd_ < 0 ||
        epoll_ctl(walker->wake_epoll_fd_, EPOLL_CTL_ADD, records_fd, &watch) != 0) {
        why_not = "cannot watch the BPF ring buffer: " + std::string(std::strerror(errno));
        return nullptr;
    }
    return walker;
}

KernelPythonWalker::~KernelPythonWalker() {
    if (fork_link_)
        bpf_link__destroy(fork_link_);
    if (wake_epoll_fd_ >= 0)
        ::close(wake_epoll_fd_);
    if (ring_)
        ring_buffer__free(ring_);
    if (object_)
        bpf_object__close(object_);
}

bool KernelPythonWalker::set_layout(int pid, const pw_layout& layout) {
    const auto key = static_cast<std::uint32_t>(pid);
    if (bpf_map_update_elem(layouts_fd_, &key, &layout, BPF_ANY) != 0)
        return false;
    layouts_[pid] = layout;
    return true;
}

bool KernelPythonWalker::inherit_from_parent(int child, int child_tid, int parent, int parent_tid) {
    const auto layout = layouts_.find(parent);
    if (layout == layouts_.end() || !set_layout(child, pw_layout(layout->second)))
        return false;
    // The thread is optional: without it the child's samples are handed back until a read of
    // its frames finds the thread state, as for any thread not yet known.
    if (const auto thread = threads_.find(parent_tid);
        thread != threads_.end() && thread->second.pid == parent)
        set_thread(child, child_tid, pw_thread(thread->second.state));
    return true;
}

void KernelPythonWalker::set_thread(int pid, int tid, const pw_thread& thread) {
    auto known = threads_.find(tid);
    if (known != threads_.end() && known->second.pid == pid &&
        known->second.state.thread_state == thread.thread_state &&
        known->second.state.thread_id == thread.thread_id)
        return;
    const auto key = static_cast<std::uint32_t>(tid);
    if (bpf_map_update_elem(threads_fd_, &key, &thread, BPF_ANY) != 0)
        return; // the map is full: this thread's samples stay perf records
    threads_[tid] = Thread{pid, thread};
}

void KernelPythonWalker::forget_thread(int tid) {
    if (threads_.erase(tid) == 0)
        return;
    const auto key = static_cast<std::uint32_t>(tid);
    bpf_map_delete_elem(threads_fd_, &key);
}

void KernelPythonWalker::forget_process(int pid) {
    std::vector<int> tids;
    for (const auto& [tid, thread] : threads_)
        if (thread.pid == pid)
            tids.push_back(tid);
    for (int tid : tids)
        forget_thread(tid);
    if (layouts_.erase(pid) != 0) {
        const auto key = static_cast<std::uint32_t>(pid);
        bpf_map_delete_elem(layouts_fd_, &key);
    }
}

bool KernelPythonWalker::sample_only_targets(bool only) {
    settings_.only_targets = only ? 1 : 0;
    return write_settings();
}

bool KernelPythonWalker::wake_every(std::uint32_t samples) {
    settings_.wake_every = samples;
    return write_settings();
}

bool KernelPythonWalker::follow_forks() {
    if (!fork_link_) {
        const std::optional<TaskFields> fields = running_kernel_task_fields();
        bpf_program* follower = bpf_object__find_program_by_name(object_, "follow_fork");
        if (!fields || !follower)
            return false;
        fork_link_ = bpf_program__attach_raw_tracepoint(follower, "sched_process_fork");
        if (!fork_link_)
            return false;
        settings_.task_pid_offset = fields->pid;
        settings_.task_tgid_offset = fields->tgid;
    }
    settings_.follow_forks = 1;
    return write_settings();
}

void KernelPythonWalker::forget_unclaimed_entries() {
    if (!settings_.follow_forks)
        return; // every entry is one this side made
    const auto sweep = [](int map_fd, const auto& known, std::unordered_set<std::uint32_t>& seen_before) {
        std::vector<std::uint32_t> unknown;
        std::uint32_t key = 0;
        const std::uint32_t* previous = nullptr;
        // Bounded by the largest map's size, should keys be added as fast as they are listed.
        for (std::size_t listed = 0; listed < 16384 && bpf_map_get_next_key(map_fd, previous, &key) == 0;
             ++listed) {
            if (!known.contains(static_cast<int>(key)))
                unknown.push_back(key);
            previous = &key;
        }
        std::unordered_set<std::uint32_t> seen_now;
        for (std::uint32_t id : unknown) {
            if (seen_before.contains(id))
                bpf_map_delete_elem(map_fd, &id);
            else
                seen_now.insert(id);
        }
        seen_before = std::move(seen_now);
    };
    sweep(targets_fd_, targets_, unclaimed_targets_);
    sweep(layouts_fd_, layouts_, unclaimed_layouts_);
    sweep(threads_fd_, threads_, unclaimed_threads_);
}

bool KernelPythonWalker::write_settings() {
    const std::uint32_t key = 0;
    return bpf_map_update_elem(settings_fd_, &key, &settings_, BPF_ANY) == 0;
}

bool KernelPythonWalker::add_target(int pid) {
    if (targets_.contains(pid))
        return true;
    const auto key = static_cast<std::uint32_t>(pid);
    const std::uint32_t value = 1;
    if (bpf_map_update_elem(targets_fd_, &key, &value, BPF_ANY) != 0)
        return false;
    targets_.insert(pid);
    return true;
}

void KernelPythonWalker::forget_target(int pid) {
    if (targets_.erase(pid) == 0)
        return;
    const auto key = static_cast<std::uint32_t>(pid);
    bpf_map_delete_elem(targets_fd_, &key);
}

int KernelPythonWalker::on_ring_record(void* self, void* data, std::size_t size) {
    auto* walker = static_cast<KernelPythonWalker*>(self);
    (*walker->on_record_)(static_cast<const std::uint8_t*>(data), size);
    ++walker->drained_;
    return 0;
}

std::size_t
KernelPythonWalker::drain(const std::function<void(const std::uint8_t*, std::size_t)>& on_record) {
    on_record_ = &on_record;
    drained_ = 0;
    ring_buffer__consume(ring_);
    on_record_ = nullptr;
    return drained_;
}

void KernelPythonWalker::acknowledge_wake() {
    epoll_event event{};
    epoll_wait(wake_epoll_fd_, &event, 1, 0); // takes the ring off the set's ready list
}

KernelPythonWalker::Counters KernelPythonWalker::counters() const {
    Counters total;
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0)
        return total;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    auto sum = [&](std::uint32_t which) {
        std::uint64_t all = 0;
        if (bpf_map_lookup_elem(counters_fd_, &which, values.data()) == 0)
            for (std::uint64_t value : values)
                all += value;
        return all;
    };
    total.samples = sum(PW_SAMPLES);
    total.walked = sum(PW_WALKED);
    total.handed_back = sum(PW_HANDED_BACK);
    total.ring_full = sum(PW_RING_FULL);
    total.forks_followed = sum(PW_FORKS_FOLLOWED);
    return total;
}

} // namespace sampler

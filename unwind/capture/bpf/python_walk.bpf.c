// Walks a CPython thread's frames at its perf sample, in the thread's own context (it is
// interrupted, so nothing it owns changes meanwhile), and copies each frame's fields and its code
// object's identifying fields, and who holds the GIL, into a ring buffer user space reads a few
// times a second (woken only when the ring passes PW_WAKE_AT_BYTES, or after every
// settings.wake_every walked samples of a CPU, for the clock's next period). A sample it cannot finish
// (a thread not yet known, a chain too long, an unreadable word, a full ring) returns 1: the
// kernel then writes the perf record as without this program, and sampler reads that sample the
// slower way (with --native, woken by the program for it). Attached to per-CPU clocks, it first drops the
// samples of every process that is not a target (settings.only_targets). Built with clang -target bpf;
// embedded in sampler.
// clang-format off
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "python_walk_abi.h"

// copy_frame masks offsets in a frame's span with PW_MAX_FRAME_BYTES - 1.
_Static_assert((PW_MAX_FRAME_BYTES & (PW_MAX_FRAME_BYTES - 1)) == 0, "PW_MAX_FRAME_BYTES: a power of two");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, PW_RING_BYTES);
} records SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct pw_layout);
} layouts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, __u32);
    __type(value, struct pw_thread);
} threads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u32);
} targets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pw_settings);
} settings SEC(".maps");

struct buffer {
    __u8 bytes[PW_BUFFER_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct buffer);
} buffers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, PW_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static void count(__u32 which) {
    __u64* value = bpf_map_lookup_elem(&counters, &which);
    if (value)
        *value += 1;
}

// Wakes the reader with no record: a reservation discarded with a forced wake-up.
static void wake_reader(void) {
    void* nothing = bpf_ringbuf_reserve(&records, 8, 0);
    if (nothing)
        bpf_ringbuf_discard(nothing, BPF_RB_FORCE_WAKEUP);
}

struct walk {
    struct buffer* buffer;
    const struct pw_layout* layout;
    __u64 frame; // the next frame to copy; 0: the chain ended
    __u32 stride;
    __u32 frames;
    int failed;
};

static long copy_frame(__u32 index, void* data) {
    struct walk* walk = data;
    if (walk->frame == 0)
        return 1;
    const struct pw_layout* layout = walk->layout;
    __u64 offset = sizeof(struct pw_header) + (__u64)index * walk->stride;
    if (offset > PW_BUFFER_BYTES - PW_MAX_ENTRY_BYTES) {
        walk->failed = 1;
        return 1;
    }
    __u8* entry = walk->buffer->bytes + offset;
    __u32 frame_size = layout->frame_size;
    __u32 identity_size = layout->identity_size;
    __u32 previous = layout->frame_previous - layout->frame_begin;
    __u32 code_at = layout->frame_code - layout->frame_begin;
    if (frame_size == 0 || frame_size > PW_MAX_FRAME_BYTES || identity_size == 0 ||
        identity_size > PW_MAX_IDENTITY_BYTES || previous > PW_MAX_FRAME_BYTES - 8 ||
        code_at > PW_MAX_FRAME_BYTES - 8) {
        walk->failed = 1;
        return 1;
    }
    __u8* frame_bytes = entry + 16;
    if (bpf_probe_read_user(frame_bytes, frame_size, (void*)(walk->frame + layout->frame_begin))) {
        walk->failed = 1;
        return 1;
    }
    // Taken from the copy just made, as plain loads (no helper call). The masks change nothing
    // (both offsets are at most PW_MAX_FRAME_BYTES - 8 here) but bound them for the verifier,
    // which the compiler's copies of the checked values do not; the empty asm keeps the compiler
    // from dropping the masks as redundant.
    asm volatile("" : "+r"(code_at), "+r"(previous));
    code_at &= PW_MAX_FRAME_BYTES - 1;
    previous &= PW_MAX_FRAME_BYTES - 1;
    __u64 code = *(__u64*)(frame_bytes + code_at);
    __u64 next = *(__u64*)(frame_bytes + previous);
    code &= layout->code_mask;
    __u8* identity = frame_bytes + pw_round8(frame_size);
    if (code == 0 || bpf_probe_read_user(identity, identity_size, (void*)(code + layout->identity_begin))) {
        walk->failed = 1;
        return 1;
    }
    *(__u64*)entry = walk->frame;
    *(__u64*)(entry + 8) = code;
    walk->frames = index + 1;
    walk->frame = next;
    return 0;
}

SEC("perf_event")
int walk_python(struct bpf_perf_event_data* context) {
    __u64 ids = bpf_get_current_pid_tgid();
    __u32 pid = ids >> 32;
    __u32 tid = (__u32)ids;
    __u32 zero = 0;
    // A per-CPU clock's tick in any other process: no record, nothing counted.
    const struct pw_settings* setting = bpf_map_lookup_elem(&settings, &zero);
    if (setting && setting->only_targets && !bpf_map_lookup_elem(&targets, &pid))
        return 0;
    count(PW_SAMPLES);
    const struct pw_thread* thread = bpf_map_lookup_elem(&threads, &tid);
    const struct pw_layout* layout = bpf_map_lookup_elem(&layouts, &pid);
    struct buffer* buffer = bpf_map_lookup_elem(&buffers, &zero);
    if (!thread || !layout || !buffer)
        goto hand_back;

    __u64 thread_id = 0;
    if (bpf_probe_read_user(&thread_id, 8, (void*)(thread->thread_state + layout->thread_id)) ||
        thread_id != thread->thread_id)
        goto hand_back;
    struct pw_header* header = (struct pw_header*)buffer->bytes;
    header->pid = pid;
    header->tid = tid;
    header->time_ns = bpf_ktime_get_ns();
    header->cpu = bpf_get_smp_processor_id();
    header->unused = 0;
    header->thread_state = thread->thread_state;
    header->frame_word = 0;
    if (bpf_probe_read_user(&header->frame_word, 8, (void*)(thread->thread_state + layout->thread_frame)))
        goto hand_back;
    header->innermost = header->frame_word;
    if (layout->cframe_current >= 0 && header->frame_word != 0 &&
        bpf_probe_read_user(&header->innermost, 8, (void*)(header->frame_word + layout->cframe_current)))
        goto hand_back;

    // Who holds the GIL, at the same instant: the GIL share and --gil per sample.
    header->gil_holder = 0;
    header->gil_locked = 0;
    header->gil_read =
        layout->gil_holder != 0 && !bpf_probe_read_user(&header->gil_holder, 8, (void*)layout->gil_holder) &&
        (layout->gil_locked == 0 || !bpf_probe_read_user(&header->gil_locked, 4, (void*)layout->gil_locked));

    struct walk walk = {.buffer = buffer, .layout = layout, .frame = header->innermost};
    walk.stride = pw_stride(layout);
    __u32 limit = layout->max_frames < PW_MAX_FRAMES ? layout->max_frames : PW_MAX_FRAMES;
    bpf_loop(limit, copy_frame, &walk, 0);
    if (walk.failed || walk.frame != 0)
        goto hand_back; // an unreadable word, or a chain longer than the limit
    header->frames = walk.frames;
    header->stride = walk.stride;
    __u64 size = sizeof(struct pw_header) + (__u64)walk.frames * walk.stride;
    if (size > PW_BUFFER_BYTES)
        goto hand_back;
    __u64 wake = bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) >= PW_WAKE_AT_BYTES ? BPF_RB_FORCE_WAKEUP
                                                                                    : BPF_RB_NO_WAKEUP;
    __u32 unwoken_at = PW_UNWOKEN;
    __u64* unwoken = setting && setting->wake_every ? bpf_map_lookup_elem(&counters, &unwoken_at) : 0;
    if (unwoken && setting && *unwoken + 1 >= setting->wake_every)
        wake = BPF_RB_FORCE_WAKEUP;
    if (bpf_ringbuf_output(&records, buffer, size, wake)) {
        count(PW_RING_FULL);
        return 1;
    }
    if (unwoken) // counted once written: a record the reader never gets must not use up a wake-up
        *unwoken = wake == BPF_RB_FORCE_WAKEUP ? 0 : *unwoken + 1;
    count(PW_WALKED);
    // The record above is the sample: no perf record, no wake-up. With --native it is the
    // Python half, and the perf record (registers and stack) follows.
    return (layout->flags & PW_KEEP_PERF_RECORD) ? 1 : 0;

hand_back:
    count(PW_HANDED_BACK);
    // With --native the perf records wake nobody (they need nothing read at once while their
    // Python halves come from here): this one's Python frames are read from the target, now.
    if (layout && (layout->flags & PW_KEEP_PERF_RECORD))
        wake_reader();
    return 1;
}

// At every fork on the machine, in the forking thread's context, before the child first runs
// (settings.follow_forks): a new process whose parent is a target becomes one, so the per-CPU
// clocks keep its samples from its first, and it is walked as its parent, whose memory it
// copies. Sampler learns of it from the fork's perf record only at its next drain: a short-lived
// child's first moments would otherwise be dropped, or read late.
SEC("raw_tp/sched_process_fork")
int follow_fork(struct bpf_raw_tracepoint_args* context) {
    __u32 zero = 0;
    const struct pw_settings* setting = bpf_map_lookup_elem(&settings, &zero);
    if (!setting || !setting->follow_forks)
        return 0;
    __u64 ids = bpf_get_current_pid_tgid();
    __u32 parent = ids >> 32;
    __u32 parent_tid = (__u32)ids;
    if (!bpf_map_lookup_elem(&targets, &parent))
        return 0;
    // The new task's task_struct, whose pid and tgid are at offsets user space found in the
    // kernel's BTF (not CO-RE relocations: with those the whole object would not load on a
    // kernel without BTF).
    __u64 child = context->args[1];
    int pid = 0;
    int tgid = 0;
    if (bpf_probe_read_kernel(&pid, sizeof pid, (void*)(child + setting->task_pid_offset)) ||
        bpf_probe_read_kernel(&tgid, sizeof tgid, (void*)(child + setting->task_tgid_offset)) ||
        pid != tgid || tgid <= 0)
        return 0; // a new thread: sampled as its process is
    __u32 key = (__u32)tgid;
    __u32 target = 1;
    if (bpf_map_update_elem(&targets, &key, &target, BPF_ANY))
        return 0; // the map is full: the child becomes a target when sampler reads its fork
    count(PW_FORKS_FOLLOWED);
    const struct pw_layout* layout = bpf_map_lookup_elem(&layouts, &parent);
    if (!layout || bpf_map_update_elem(&layouts, &key, layout, BPF_ANY))
        return 0;
    // Its one thread runs on the forking thread's state (its tid is the child's pid).
    const struct pw_thread* thread = bpf_map_lookup_elem(&threads, &parent_tid);
    if (thread)
        bpf_map_update_elem(&threads, &key, thread, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";

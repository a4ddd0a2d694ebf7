// Prototype: walk CPython 3.12 frames at each perf sample, in the kernel.
// linux/bpf.h first: bpf_helpers.h uses its types.
// clang-format off
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#define MAX_FRAMES 64

struct sample {
    __u32 pid, tid;
    __u64 time;
    __u32 n, truncated;
    __u64 code[MAX_FRAMES];
    __u64 instr[MAX_FRAMES];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 22);
} out SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u64);
} tstates SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sample);
} scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

static void bump(__u32 which) {
    __u64* v = bpf_map_lookup_elem(&stats, &which);
    if (v)
        __sync_fetch_and_add(v, 1);
}

struct walk {
    struct sample* s;
    __u64 frame;
};

static long step(__u32 index, void* data) {
    struct walk* w = data;
    struct sample* s = w->s;
    if (!w->frame)
        return 1;
    __u8 buf[72];
    if (bpf_probe_read_user(buf, sizeof buf, (void*)w->frame)) {
        s->truncated = 1;
        return 1;
    }
    __u32 n = s->n;
    if (n >= MAX_FRAMES)
        return 1;
    s->code[n] = *(__u64*)buf;
    s->instr[n] = *(__u64*)(buf + 56);
    s->n = n + (buf[70] != 3);
    w->frame = *(__u64*)(buf + 8);
    return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data* ctx) {
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    bump(0);
    __u64* tstate = bpf_map_lookup_elem(&tstates, &tid);
    if (!tstate)
        return 0;
    __u32 zero = 0;
    struct sample* s = bpf_map_lookup_elem(&scratch, &zero);
    if (!s)
        return 0;
    s->pid = id >> 32;
    s->tid = tid;
    s->time = bpf_ktime_get_ns();
    s->n = 0;
    s->truncated = 0;
    __u64 cframe = 0;
    struct walk w = {.s = s, .frame = 0};
    bpf_probe_read_user(&cframe, 8, (void*)(*tstate + 56));
    if (cframe)
        bpf_probe_read_user(&w.frame, 8, (void*)cframe);
    bpf_loop(MAX_FRAMES + 16, step, &w, 0);
    if (w.frame)
        s->truncated = 1;
    __u32 n = s->n;
    if (n > MAX_FRAMES)
        n = MAX_FRAMES;
    // Only the frames read are sent: the header and n codes, then the instructions.
    if (bpf_ringbuf_output(&out, s, sizeof(*s), BPF_RB_NO_WAKEUP))
        bump(1);
    else
        bump(2);
    return 0; // no perf ring record: the BPF sample is the sample
}

char LICENSE[] SEC("license") = "GPL";

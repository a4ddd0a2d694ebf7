/* What the kernel-side Python walker (python_walk.bpf.c) and sampler agree on: the per-process
 * layout it is given, the per-thread entry, and the record it writes for each sample. Plain C,
 * fixed-width fields, no padding the two compilers could disagree on. */
#ifndef SAMPLER_PYTHON_WALK_ABI_H
#define SAMPLER_PYTHON_WALK_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t pw_u8;
typedef std::uint32_t pw_u32;
typedef std::int32_t pw_s32;
typedef std::uint64_t pw_u64;
#else
typedef __u8 pw_u8;
typedef __u32 pw_u32;
typedef __s32 pw_s32;
typedef __u64 pw_u64;
#endif

/* The ring the records go into, and how full it gets before the program wakes the reader: below
 * that, records wait for the reader's next look (a few times a second, or after a run of a CPU's
 * samples with settings.wake_every), so a sample mostly wakes nobody; past it, the ring is
 * emptied before it can fill at any rate. */
#define PW_RING_BYTES (1u << 23)
#define PW_WAKE_AT_BYTES (PW_RING_BYTES / 8)

/* The record is built in a per-CPU buffer of this size (the kernel's limit for a per-CPU map
 * value is 32 KiB); frames that do not fit hand the sample back to user space. */
#define PW_BUFFER_BYTES 32768
#define PW_MAX_FRAME_BYTES 128    /* a frame's copied span (a power of two: the walker masks with it) */
#define PW_MAX_IDENTITY_BYTES 192 /* a code object's copied span */
#define PW_MAX_FRAMES 255

/* The room one frame's entry may take: the walk stops where it would pass the buffer's end. (The
 * 8 is the rounding up of the frame's span, as the verifier bounds it.) */
#define PW_MAX_ENTRY_BYTES (16 + PW_MAX_FRAME_BYTES + 8 + PW_MAX_IDENTITY_BYTES)

/* One process's CPython, by pid (the map `layouts`). Offsets in bytes. */
struct pw_layout {
    pw_u32 thread_frame;   /* PyThreadState: frame / cframe / current_frame pointer */
    pw_s32 cframe_current; /* _PyCFrame.current_frame (3.11, 3.12); -1: thread_frame is the frame */
    pw_u32 thread_id;      /* PyThreadState.thread_id, checked against the thread's entry */
    pw_u32 frame_begin;    /* the span of each frame copied: [begin, begin + size) */
    pw_u32 frame_size;
    pw_u32 frame_previous; /* the link to the caller's frame */
    pw_u32 frame_code;     /* the code object pointer */
    pw_u32 identity_begin; /* the span of each code object copied */
    pw_u32 identity_size;
    pw_u32 max_frames; /* frames visited; a longer chain hands the sample back */
    pw_u64 code_mask;  /* the bits of the code pointer that are the address */
    pw_u64 gil_holder; /* where the GIL's holder (a PyThreadState*) is kept; 0: unknown */
    pw_u64 gil_locked; /* where its `locked` int is (3.12+); 0: none */
    pw_u32 flags;      /* PW_* below */
    pw_u32 unused;
};

/* The walk is half of the sample (--native): the program still returns 1 after writing it, so
 * the perf record (registers and stack) follows, and user space pairs the two by thread and
 * time. */
#define PW_KEEP_PERF_RECORD 1u

/* A span rounded up to 8 bytes, as entries lay spans out; the bytes of one frame's entry. */
static inline pw_u32 pw_round8(pw_u32 size) {
    return (size + 7) & ~7u;
}
static inline pw_u32 pw_stride(const struct pw_layout* layout) {
    return 16 + pw_round8(layout->frame_size) + pw_round8(layout->identity_size);
}

/* One thread, by tid (the map `threads`): its PyThreadState and the thread_id word it held when
 * user space found it (a state freed and reused for another thread no longer matches). */
struct pw_thread {
    pw_u64 thread_state;
    pw_u64 thread_id;
};

/* The record of one sample: this header, then `frames` entries of `stride` bytes each:
 * frame address (8), code address (8), the frame's span, the code object's span (each of its
 * layout's size, rounded up to 8). */
struct pw_header {
    pw_u32 pid;
    pw_u32 tid;
    pw_u64 time_ns; /* CLOCK_MONOTONIC */
    pw_u64 thread_state;
    pw_u64 frame_word; /* the word at thread_state + thread_frame */
    pw_u64 innermost;  /* the innermost frame (frame_word, or what its cframe points at) */
    pw_u32 frames;
    pw_u32 stride;
    pw_u64 gil_holder; /* the words at the layout's gil_holder and gil_locked, when gil_read */
    pw_s32 gil_locked;
    pw_u32 gil_read;
    pw_u32 cpu; /* the CPU the sample was taken on: with per-CPU clocks, whose clock took it */
    pw_u32 unused;
};

/* Settings (the array map `settings`, one entry). */
struct pw_settings {
    /* Per-CPU clocks sample every task on their CPU: the program then drops (returns 0 for) a
     * sample of a process not in the map `targets`, before anything else. */
    pw_u32 only_targets;
    /* Walked samples a CPU takes between two wake-ups of the reader it forces (0: none; the ring's
     * fill alone wakes it): each lets sampler redraw the clock's random period, which it can only
     * set from user space, after that many samples rather than at its next look. */
    pw_u32 wake_every;
    /* Per-CPU clocks and --subprocesses: a process a target forks becomes a target at its fork,
     * walked as its parent (its layout and the forking thread's entry copied), before sampler
     * reads the fork's record (see follow_fork). */
    pw_u32 follow_forks;
    /* Where the running kernel's task_struct keeps pid and tgid (from its BTF; see
     * kernel_task_fields.hpp): follow_fork reads both of the new task. */
    pw_u32 task_pid_offset;
    pw_u32 task_tgid_offset;
    pw_u32 unused;
};

/* Counters (the array map `counters`), by index. */
enum pw_counter {
    PW_SAMPLES = 0,        /* samples the program ran on */
    PW_WALKED = 1,         /* written to the ring */
    PW_HANDED_BACK = 2,    /* unknown thread, or a walk that could not finish: a perf record */
    PW_RING_FULL = 3,      /* walked, but the ring had no room: a perf record instead */
    PW_UNWOKEN = 4,        /* written since this CPU last woke the reader (see wake_every) */
    PW_FORKS_FOLLOWED = 5, /* children made targets at their fork (see follow_forks) */
    PW_COUNTERS = 6
};

#endif

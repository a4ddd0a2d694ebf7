// Prototype loader: task-clock events on each thread of PID, each running py.bpf.o's program.
// usage: proto PID RATE SECONDS TID=TSTATE...
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct sample {
    unsigned pid, tid;
    unsigned long long time;
    unsigned n, truncated;
    unsigned long long code[64];
    unsigned long long instr[64];
};
static long samples, frames, truncated;
static struct sample last;
static int handle(void* ctx, void* data, size_t size) {
    const struct sample* s = data;
    last = *s;
    samples++;
    frames += s->n;
    truncated += s->truncated;
    FILE* f = fopen("last.txt", "w");
    for (unsigned i = 0; i < last.n && i < 64; i++)
        fprintf(f, "%llx %llx\n", last.code[i], last.instr[i]);
    fclose(f);
    return 0;
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char** argv) {
    int pid = atoi(argv[1]);
    int rate = atoi(argv[2]);
    double seconds = atof(argv[3]);
    struct bpf_object* obj = bpf_object__open_file("py.bpf.o", NULL);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "load failed\n");
        return 1;
    }
    int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "on_sample"));
    int tstates = bpf_object__find_map_fd_by_name(obj, "tstates");
    int stats = bpf_object__find_map_fd_by_name(obj, "stats");
    for (int i = 4; i < argc; i++) {
        unsigned tid;
        unsigned long long addr;
        if (sscanf(argv[i], "%u=%llx", &tid, &addr) == 2)
            bpf_map_update_elem(tstates, &tid, &addr, BPF_ANY);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR* dir = opendir(path);
    struct dirent* e;
    int events = 0;
    while ((e = readdir(dir))) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        struct perf_event_attr attr = {0};
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
        attr.sample_period = 1000000000ull / rate;
        attr.disabled = 1;
        attr.exclude_kernel = 1;
        int fd = syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            perror("perf_event_open");
            continue;
        }
        if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
            perror("ioctl");
            continue;
        }
        events++;
    }
    struct ring_buffer* rb =
        ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "out"), handle, NULL, NULL);
    double start = now();
    while (now() - start < seconds && kill(pid, 0) == 0)
        ring_buffer__poll(rb, 100);
    ring_buffer__consume(rb);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    unsigned long long st[3] = {0};
    for (unsigned k = 0; k < 3; k++)
        bpf_map_lookup_elem(stats, &k, &st[k]);
    printf("events %d samples %ld frames/sample %.1f truncated %ld; bpf calls %llu nostate %llu full %llu; "
           "own CPU %.3f s\n",
           events, samples, samples ? (double)frames / samples : 0.0, truncated, st[0], st[0] - st[2] - st[1],
           st[1],
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    FILE* f = fopen("last.txt", "w");
    for (unsigned i = 0; i < last.n && i < 64; i++)
        fprintf(f, "%llx %llx\n", last.code[i], last.instr[i]);
    fclose(f);
    return 0;
}

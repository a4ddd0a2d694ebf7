#pragma once
// One perf_event file descriptor and, optionally, its mmap'd ring buffer. Owns both: closing
// the descriptor ends the event in the kernel, so a profiler that exits (on any path) leaves
// nothing behind in the target.

#include <cstddef>
#include <cstdint>
#include <linux/perf_event.h>
#include <vector>

namespace sampler {

class PerfEventFile {
  public:
    PerfEventFile() = default;
    explicit PerfEventFile(int fd) : fd_(fd) {}
    ~PerfEventFile();
    PerfEventFile(PerfEventFile&& other) noexcept;
    PerfEventFile& operator=(PerfEventFile&& other) noexcept;
    PerfEventFile(const PerfEventFile&) = delete;
    PerfEventFile& operator=(const PerfEventFile&) = delete;

    // perf_event_open for one thread (`tid`, any CPU). Returns an invalid file and sets `error`
    // (an errno) on failure.
    static PerfEventFile open(const perf_event_attr& attr, int tid, int& error);
    // perf_event_open for every task on one CPU.
    static PerfEventFile open_on_cpu(const perf_event_attr& attr, int cpu, int& error);

    int fd() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    // The event's count (for task-clock: nanoseconds on a CPU, inherited threads included);
    // 0 when it cannot be read.
    std::uint64_t read_count() const;

  private:
    int fd_ = -1;
};

// The ring buffer the kernel writes records into. Records that wrap around the end of the ring
// are reassembled into a scratch buffer, so a reader always sees one contiguous record.
class PerfRing {
  public:
    PerfRing() = default;
    ~PerfRing();
    PerfRing(PerfRing&& other) noexcept;
    PerfRing& operator=(PerfRing&& other) noexcept;
    PerfRing(const PerfRing&) = delete;
    PerfRing& operator=(const PerfRing&) = delete;

    // Maps `data_pages` (a power of two) pages of ring plus the control page. Returns false
    // and sets `error` when the kernel refuses (EPERM: over the locked-memory limit).
    bool map(int fd, std::size_t data_pages, int& error);
    bool mapped() const { return base_ != nullptr; }

    // Calls `on_record(const perf_event_header&)` for each complete record written since the
    // last call, then hands the space back to the kernel. Returns the number of records.
    template <typename OnRecord> std::size_t drain(OnRecord&& on_record) { return read(on_record, true); }
    // The same without handing the space back: the next drain sees these records again first.
    template <typename OnRecord> std::size_t peek(OnRecord&& on_record) { return read(on_record, false); }

  private:
    template <typename OnRecord> std::size_t read(OnRecord& on_record, bool consume);
    const perf_event_header* record_at(std::uint64_t position, std::uint64_t head);
    std::uint64_t data_head() const;
    void set_data_tail(std::uint64_t tail);

    void* base_ = nullptr;
    std::size_t mapped_bytes_ = 0;
    std::size_t data_bytes_ = 0;
    std::vector<std::uint8_t> scratch_;
};

template <typename OnRecord> std::size_t PerfRing::read(OnRecord& on_record, bool consume) {
    if (!base_)
        return 0;
    const std::uint64_t head = data_head();
    auto* control = static_cast<perf_event_mmap_page*>(base_);
    std::uint64_t position = control->data_tail;
    std::size_t records = 0;
    while (position < head) {
        const perf_event_header* header = record_at(position, head);
        if (!header)
            break; // a torn or impossible header: skip to the head rather than misread
        on_record(*header);
        position += header->size;
        ++records;
    }
    if (consume)
        set_data_tail(head);
    return records;
}

} // namespace sampler

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
    template <typename OnRecord> std::size_t drain(OnRecord&& on_record);

    // Reading one record at a time, to merge several rings in time order: a cursor covers the
    // records written before it was taken; records written since are left for the next.
    struct Cursor {
        std::uint64_t position = 0;
        std::uint64_t head = 0;
    };
    Cursor cursor() const;
    // The record at the cursor, valid until this ring's next call; nullptr at its end (or at a
    // torn or impossible header, which also moves the cursor to its end rather than misread).
    const perf_event_header* record(Cursor& at);
    void step(Cursor& at, const perf_event_header& past) const { at.position += past.size; }
    // Hands back the space of the records before the cursor.
    void consume(const Cursor& at) {
        if (base_)
            set_data_tail(at.position);
    }

  private:
    const perf_event_header* record_at(std::uint64_t position, std::uint64_t head);
    std::uint64_t data_head() const;
    void set_data_tail(std::uint64_t tail);

    void* base_ = nullptr;
    std::size_t mapped_bytes_ = 0;
    std::size_t data_bytes_ = 0;
    std::vector<std::uint8_t> scratch_;
};

template <typename OnRecord> std::size_t PerfRing::drain(OnRecord&& on_record) {
    Cursor at = cursor();
    std::size_t records = 0;
    while (const perf_event_header* header = record(at)) {
        on_record(*header);
        step(at, *header);
        ++records;
    }
    consume(at);
    return records;
}

} // namespace sampler

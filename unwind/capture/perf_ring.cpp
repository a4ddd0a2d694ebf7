#include "perf_ring.hpp"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

namespace sampler {

PerfEventFile::~PerfEventFile() {
    if (fd_ >= 0)
        ::close(fd_);
}

PerfEventFile::PerfEventFile(PerfEventFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

PerfEventFile& PerfEventFile::operator=(PerfEventFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

PerfEventFile PerfEventFile::open(const perf_event_attr& attr, int tid, int& error) {
    long fd = ::syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
        error = errno;
        return PerfEventFile();
    }
    error = 0;
    return PerfEventFile(static_cast<int>(fd));
}

PerfEventFile PerfEventFile::open_on_cpu(const perf_event_attr& attr, int cpu, int& error) {
    long fd = ::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
        error = errno;
        return PerfEventFile();
    }
    error = 0;
    return PerfEventFile(static_cast<int>(fd));
}

std::uint64_t PerfEventFile::read_count() const {
    std::uint64_t count = 0;
    if (fd_ < 0 || ::read(fd_, &count, sizeof count) != static_cast<ssize_t>(sizeof count))
        return 0;
    return count;
}

PerfRing::~PerfRing() {
    if (base_)
        ::munmap(base_, mapped_bytes_);
}

PerfRing::PerfRing(PerfRing&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      data_bytes_(std::exchange(other.data_bytes_, 0)), scratch_(std::move(other.scratch_)) {}

PerfRing& PerfRing::operator=(PerfRing&& other) noexcept {
    if (this != &other) {
        if (base_)
            ::munmap(base_, mapped_bytes_);
        base_ = std::exchange(other.base_, nullptr);
        mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
        data_bytes_ = std::exchange(other.data_bytes_, 0);
        scratch_ = std::move(other.scratch_);
    }
    return *this;
}

bool PerfRing::map(int fd, std::size_t data_pages, int& error) {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (data_pages + 1) * page;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        error = errno;
        return false;
    }
    if (base_)
        ::munmap(base_, mapped_bytes_);
    base_ = base;
    mapped_bytes_ = bytes;
    data_bytes_ = data_pages * page;
    error = 0;
    return true;
}

PerfRing::Cursor PerfRing::cursor() const {
    if (!base_)
        return {};
    const std::uint64_t head = data_head();
    return {static_cast<perf_event_mmap_page*>(base_)->data_tail, head};
}

const perf_event_header* PerfRing::record(Cursor& at) {
    if (!base_ || at.position >= at.head)
        return nullptr;
    const perf_event_header* header = record_at(at.position, at.head);
    if (!header)
        at.position = at.head;
    return header;
}

std::uint64_t PerfRing::data_head() const {
    auto* control = static_cast<perf_event_mmap_page*>(base_);
    // Pairs with the kernel's store of data_head after it wrote the records.
    return __atomic_load_n(&control->data_head, __ATOMIC_ACQUIRE);
}

void PerfRing::set_data_tail(std::uint64_t tail) {
    auto* control = static_cast<perf_event_mmap_page*>(base_);
    // Our reads of the records must complete before the kernel may overwrite them.
    __atomic_store_n(&control->data_tail, tail, __ATOMIC_RELEASE);
}

const perf_event_header* PerfRing::record_at(std::uint64_t position, std::uint64_t head) {
    const auto* data = static_cast<const std::uint8_t*>(base_) + (mapped_bytes_ - data_bytes_);
    const std::size_t offset = static_cast<std::size_t>(position % data_bytes_);
    perf_event_header header;
    if (offset + sizeof header <= data_bytes_) {
        std::memcpy(&header, data + offset, sizeof header);
    } else {
        const std::size_t first = data_bytes_ - offset;
        std::memcpy(&header, data + offset, first);
        std::memcpy(reinterpret_cast<std::uint8_t*>(&header) + first, data, sizeof header - first);
    }
    if (header.size < sizeof header || header.size > data_bytes_ || position + header.size > head)
        return nullptr;
    if (offset + header.size <= data_bytes_)
        return reinterpret_cast<const perf_event_header*>(data + offset);
    // The record wraps: copy its two parts into one piece.
    scratch_.resize(header.size);
    const std::size_t first = data_bytes_ - offset;
    std::memcpy(scratch_.data(), data + offset, first);
    std::memcpy(scratch_.data() + first, data, header.size - first);
    return reinterpret_cast<const perf_event_header*>(scratch_.data());
}

} // namespace sampler

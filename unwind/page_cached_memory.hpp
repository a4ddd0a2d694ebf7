#pragma once
// A RemoteMemory that serves small reads from whole pages, each fetched from the target once.
// Walking a thread's Python frames makes a few small reads per frame, mostly from few pages
// (3.11+ frames sit next to each other; a recursion's frames share one code object), and a
// process_vm_readv costs about a microsecond however little it copies: reading each page once
// shortens the pause. The cache knows nothing of the target changing its memory: forget() it
// before every pause.
// A page can also be held in part (prefetch of spans): the part an earlier walk used, so that a
// sample copies a few hundred bytes of each page instead of 4 KiB (the copy was a quarter of
// process_vm_readv's cost, and each line copied is one the target, writing its frames on another
// CPU, must take back). A read outside the part held fetches the rest of that page.

#include "remote_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace sampler {

class PageCachedMemory final : public RemoteMemory {
  public:
    // Up to `max_pages` pages are kept; reads beyond them, and reads larger than two pages, go
    // straight to `memory`. The default holds a 4096-deep 3.11+ stack's frames (about 100
    // pages) many times over; memory is taken 16 pages at a time, as pages are held.
    explicit PageCachedMemory(const RemoteMemory& memory, std::size_t max_pages = 1024);

    bool read(std::uint64_t address, void* out, std::size_t size) const override;
    void forget() const {
        addresses_.clear();
        extents_.clear();
        index_.clear();
        last_hit_ = no_slot;
    }
    // Fetches these pages (page-aligned addresses) now, all in one read where the memory allows:
    // the pages an earlier walk of the same thread used, which the next walk most likely needs.
    // Pages already held, or that cannot be read, are skipped.
    void prefetch(const std::vector<std::uint64_t>& pages) const { prefetch(pages, nullptr, 0); }
    // The same, with `after` read in the same call right after the pages (where the memory
    // reads many pieces at once): words that must be read just after the snapshot. Returns how
    // many of them were read (in order; none when a page could not be read).
    std::size_t prefetch(const std::vector<std::uint64_t>& pages, const Piece* after,
                         std::size_t after_count) const;
    // Bytes [begin, end) of the page at `page` (page-aligned).
    struct Span {
        std::uint64_t page = 0;
        std::uint16_t begin = 0, end = 0;
        bool operator==(const Span&) const = default;
    };
    // The same as prefetch(pages, ...) for parts of pages: each span is held alone until a read
    // needs more of its page.
    std::size_t prefetch_spans(const std::vector<Span>& spans, const Piece* after,
                               std::size_t after_count) const;
    // The pages held now, in the order they were fetched.
    const std::vector<std::uint64_t>& pages() const { return addresses_; }
    // The pages reads have used since forget(): what to prefetch for the next walk. A page
    // prefetched but never read is left out, so a list fed back into prefetch() does not grow.
    std::vector<std::uint64_t> used_pages() const;
    // The same, each with the part of it reads used, widened to span_block-byte blocks plus one
    // block on each side (a stack that grew or moved a little is still inside), and joined with
    // the span the page was prefetched as: a page's span grows to what successive walks use
    // (frames of several depths, the code objects of several stacks), so that few walks find
    // part of what they need missing and pay a read for the rest of the page.
    std::vector<Span> used_spans() const;
    static constexpr std::size_t span_block = 256;

    std::size_t pages_cached() const { return addresses_.size(); }
    // Reads of the target made so far (prefetches, pages fetched, reads passed through).
    std::optional<std::uint64_t> fetches() const override { return fetches_; }

  private:
    static constexpr std::size_t pages_per_chunk = 16;
    static constexpr std::size_t no_slot = SIZE_MAX;

    // The page holding bytes [begin, end) of it, fetched (or completed) when needed; nullptr when
    // it cannot be read or cached. Marks those bytes used.
    const std::uint8_t* page(std::uint64_t page_address, std::size_t begin, std::size_t end) const;
    // Where the page held at `index` lives; its chunk is allocated on first use and kept, so a
    // slot's address never changes.
    std::uint8_t* slot(std::size_t index) const;
    // The next slot now holds bytes [begin, end) of the page; `span`: prefetched as a span.
    void hold(std::uint64_t page_address, std::size_t begin, std::size_t end, bool span) const;
    // Fetches the rest of the page held in `index` (it held a part): false when it cannot.
    bool complete(std::size_t index) const;

    const RemoteMemory& memory_;
    std::size_t max_pages_;
    // Reads are const (RemoteMemory's interface); the cache is not the target's state.
    mutable std::vector<std::uint64_t> addresses_; // addresses_[i] is the page held in slot(i)
    // Per slot, in bytes from the page's start: the part held (the whole page unless it came
    // from a span), the span it was prefetched as ([0, 0) when read on demand), and the part
    // reads used ([0, 0) when none).
    struct Extent {
        std::uint16_t held_begin = 0, held_end = 0, span_begin = 0, span_end = 0, used_begin = 0,
                      used_end = 0;
    };
    mutable std::vector<Extent> extents_;
    mutable std::unordered_map<std::uint64_t, std::size_t> index_; // page address -> slot
    mutable std::size_t last_hit_ = no_slot; // consecutive reads mostly stay in one page
    mutable std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
    mutable std::uint64_t fetches_ = 0;
    mutable std::vector<Piece> pieces_; // prefetch's, kept to spare an allocation per call
    mutable std::vector<Span> wanted_;  // the same
};

} // namespace sampler

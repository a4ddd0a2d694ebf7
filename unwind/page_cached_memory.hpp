#pragma once
// A RemoteMemory that serves small reads from whole pages, each fetched from the target once.
// Walking a thread's Python frames makes a few small reads per frame, mostly from few pages
// (3.11+ frames sit next to each other; a recursion's frames share one code object), and a
// process_vm_readv costs about a microsecond however little it copies: reading each page once
// shortens the pause. The cache knows nothing of the target changing its memory: forget() it
// before every pause.

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
        used_.clear();
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
    // The pages held now, in the order they were fetched.
    const std::vector<std::uint64_t>& pages() const { return addresses_; }
    // The pages reads have used since forget(): what to prefetch for the next walk. A page
    // prefetched but never read is left out, so a list fed back into prefetch() does not grow.
    std::vector<std::uint64_t> used_pages() const;

    std::size_t pages_cached() const { return addresses_.size(); }
    // Reads of the target made so far (prefetches, pages fetched, reads passed through).
    std::optional<std::uint64_t> fetches() const override { return fetches_; }

  private:
    static constexpr std::size_t pages_per_chunk = 16;
    static constexpr std::size_t no_slot = SIZE_MAX;

    const std::uint8_t* page(std::uint64_t page_address) const; // nullptr: cannot be read or cached
    // Where the page held at `index` lives; its chunk is allocated on first use and kept, so a
    // slot's address never changes.
    std::uint8_t* slot(std::size_t index) const;
    void hold(std::uint64_t page_address, bool used) const; // the next slot now holds it

    const RemoteMemory& memory_;
    std::size_t max_pages_;
    // Reads are const (RemoteMemory's interface); the cache is not the target's state.
    mutable std::vector<std::uint64_t> addresses_; // addresses_[i] is the page held in slot(i)
    mutable std::vector<bool> used_;               // used_[i]: a read has used addresses_[i]
    mutable std::unordered_map<std::uint64_t, std::size_t> index_; // page address -> slot
    mutable std::size_t last_hit_ = no_slot; // consecutive reads mostly stay in one page
    mutable std::vector<std::unique_ptr<std::uint8_t[]>> chunks_;
    mutable std::uint64_t fetches_ = 0;
    mutable std::vector<Piece> pieces_; // prefetch's, kept to spare an allocation per call
};

} // namespace sampler

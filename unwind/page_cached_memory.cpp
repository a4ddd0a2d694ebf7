#include "page_cached_memory.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace sampler {

PageCachedMemory::PageCachedMemory(const RemoteMemory& memory, std::size_t max_pages)
    : memory_(memory), max_pages_(max_pages) {}

std::uint8_t* PageCachedMemory::slot(std::size_t index) const {
    const std::size_t chunk = index / pages_per_chunk;
    if (chunks_.size() <= chunk)
        chunks_.resize(chunk + 1);
    if (!chunks_[chunk])
        chunks_[chunk] = std::make_unique_for_overwrite<std::uint8_t[]>(pages_per_chunk * page_size);
    return chunks_[chunk].get() + (index % pages_per_chunk) * page_size;
}

void PageCachedMemory::hold(std::uint64_t page_address, bool used) const {
    index_.emplace(page_address, addresses_.size());
    addresses_.push_back(page_address);
    used_.push_back(used);
}

const std::uint8_t* PageCachedMemory::page(std::uint64_t page_address) const {
    if (last_hit_ == no_slot || addresses_[last_hit_] != page_address) {
        auto found = index_.find(page_address);
        if (found == index_.end()) {
            if (addresses_.size() == max_pages_)
                return nullptr;
            std::uint8_t* into = slot(addresses_.size());
            ++fetches_;
            if (!memory_.read(page_address, into, page_size))
                return nullptr;
            hold(page_address, true);
            last_hit_ = addresses_.size() - 1;
            return into;
        }
        last_hit_ = found->second;
    }
    used_[last_hit_] = true;
    return slot(last_hit_);
}

std::size_t PageCachedMemory::prefetch(const std::vector<std::uint64_t>& pages, const Piece* after,
                                       std::size_t after_count) const {
    std::vector<std::uint64_t> wanted;
    std::unordered_set<std::uint64_t> seen;
    for (std::uint64_t page_address : pages)
        if ((page_address & (page_size - 1)) == 0 && !index_.contains(page_address) &&
            seen.insert(page_address).second)
            wanted.push_back(page_address);
    if (wanted.size() > max_pages_ - addresses_.size())
        wanted.resize(max_pages_ - addresses_.size());
    if (wanted.empty() && after_count == 0)
        return 0;
    const std::size_t first = addresses_.size();
    // The first call: every page, then `after`.
    std::vector<Piece>& pieces = pieces_;
    pieces.clear();
    for (std::size_t i = 0; i < wanted.size(); ++i)
        pieces.push_back({wanted[i], slot(first + i), page_size});
    pieces.insert(pieces.end(), after, after + after_count);
    ++fetches_;
    const std::size_t read_first = memory_.read_scattered(pieces.data(), pieces.size());
    const std::size_t pages_read = std::min(read_first, wanted.size());
    for (std::size_t i = 0; i < pages_read; ++i)
        hold(wanted[i], false);
    if (pages_read == wanted.size())
        return read_first - pages_read;
    // A page that cannot be read: drop it, and go on with the rest, without `after` (which
    // would no longer follow the snapshot at once). Blocks are read into consecutive slots, so
    // never past the end of a chunk.
    std::size_t done = pages_read + 1;
    while (done < wanted.size()) {
        const std::size_t at = addresses_.size();
        const std::size_t count = std::min(wanted.size() - done, pages_per_chunk - at % pages_per_chunk);
        ++fetches_;
        const std::size_t read = memory_.read_blocks(wanted.data() + done, count, slot(at), page_size);
        for (std::size_t i = 0; i < read; ++i)
            hold(wanted[done + i], false);
        done += read;
        if (read < count)
            ++done; // past the page that failed
    }
    return 0;
}

std::vector<std::uint64_t> PageCachedMemory::used_pages() const {
    std::vector<std::uint64_t> used;
    for (std::size_t i = 0; i < addresses_.size(); ++i)
        if (used_[i])
            used.push_back(addresses_[i]);
    return used;
}

bool PageCachedMemory::read(std::uint64_t address, void* out, std::size_t size) const {
    if (size == 0)
        return true;
    const std::uint64_t last = address + (size - 1);
    if (size > 2 * page_size || last < address) {
        ++fetches_;
        return memory_.read(address, out, size);
    }
    auto* into = static_cast<std::uint8_t*>(out);
    for (std::uint64_t at = address; at <= last;) {
        const std::uint64_t page_address = at & ~std::uint64_t(page_size - 1);
        const std::uint8_t* bytes = page(page_address);
        // A page that cannot be read whole (or no room left): let the target's memory decide.
        if (!bytes) {
            ++fetches_;
            return memory_.read(address, out, size);
        }
        const std::size_t count = std::min<std::uint64_t>(last - at + 1, page_address + page_size - at);
        std::memcpy(into + (at - address), bytes + (at - page_address), count);
        if (page_address + page_size - 1 >= last)
            break;
        at = page_address + page_size;
    }
    return true;
}

} // namespace sampler

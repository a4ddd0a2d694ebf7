#include "page_cached_memory.hpp"

#include <algorithm>
#include <cstring>

namespace sampler {

PageCachedMemory::PageCachedMemory(const RemoteMemory& memory, std::size_t max_pages)
    : memory_(memory), max_pages_(max_pages) {
    addresses_.reserve(max_pages);
}

const std::uint8_t* PageCachedMemory::page(std::uint64_t page_address) const {
    for (std::size_t i = 0; i < addresses_.size(); ++i)
        if (addresses_[i] == page_address) {
            used_[i] = true;
            return storage_.data() + i * page_size;
        }
    if (addresses_.size() == max_pages_)
        return nullptr;
    if (storage_.size() < (addresses_.size() + 1) * page_size)
        storage_.resize(max_pages_ * page_size); // once: later pauses reuse it
    std::uint8_t* slot = storage_.data() + addresses_.size() * page_size;
    ++fetches_;
    if (!memory_.read(page_address, slot, page_size))
        return nullptr;
    addresses_.push_back(page_address);
    used_.push_back(true);
    return slot;
}

std::size_t PageCachedMemory::prefetch(const std::vector<std::uint64_t>& pages, const Piece* after,
                                       std::size_t after_count) const {
    std::vector<std::uint64_t> wanted;
    for (std::uint64_t page_address : pages)
        if ((page_address & (page_size - 1)) == 0 &&
            std::find(addresses_.begin(), addresses_.end(), page_address) == addresses_.end() &&
            std::find(wanted.begin(), wanted.end(), page_address) == wanted.end())
            wanted.push_back(page_address);
    if (wanted.size() > max_pages_ - addresses_.size())
        wanted.resize(max_pages_ - addresses_.size());
    if (wanted.empty() && after_count == 0)
        return 0;
    if (storage_.size() < max_pages_ * page_size)
        storage_.resize(max_pages_ * page_size);
    const std::size_t first = addresses_.size();
    // The first call: every page, then `after`.
    std::vector<Piece>& pieces = pieces_;
    pieces.clear();
    for (std::size_t i = 0; i < wanted.size(); ++i)
        pieces.push_back({wanted[i], storage_.data() + (first + i) * page_size, page_size});
    pieces.insert(pieces.end(), after, after + after_count);
    ++fetches_;
    const std::size_t read_first = memory_.read_scattered(pieces.data(), pieces.size());
    const std::size_t pages_read = std::min(read_first, wanted.size());
    for (std::size_t i = 0; i < pages_read; ++i) {
        addresses_.push_back(wanted[i]);
        used_.push_back(false);
    }
    if (pages_read == wanted.size())
        return read_first - pages_read;
    // A page that cannot be read: drop it, and go on with the rest, without `after` (which
    // would no longer follow the snapshot at once).
    std::size_t done = pages_read + 1;
    while (done < wanted.size()) {
        ++fetches_;
        const std::size_t at = addresses_.size();
        std::size_t read = memory_.read_blocks(wanted.data() + done, wanted.size() - done,
                                               storage_.data() + at * page_size, page_size);
        for (std::size_t i = 0; i < read; ++i) {
            addresses_.push_back(wanted[done + i]);
            used_.push_back(false);
        }
        done += read + 1; // and past the page that failed
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

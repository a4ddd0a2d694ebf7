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

void PageCachedMemory::prefetch(const std::vector<std::uint64_t>& pages) const {
    std::vector<std::uint64_t> wanted;
    for (std::uint64_t page_address : pages)
        if ((page_address & (page_size - 1)) == 0 &&
            std::find(addresses_.begin(), addresses_.end(), page_address) == addresses_.end() &&
            std::find(wanted.begin(), wanted.end(), page_address) == wanted.end())
            wanted.push_back(page_address);
    if (wanted.size() > max_pages_ - addresses_.size())
        wanted.resize(max_pages_ - addresses_.size());
    if (wanted.empty())
        return;
    if (storage_.size() < max_pages_ * page_size)
        storage_.resize(max_pages_ * page_size);
    std::size_t first = addresses_.size();
    std::size_t done = 0;
    while (done < wanted.size()) {
        ++fetches_;
        std::size_t read = memory_.read_blocks(wanted.data() + done, wanted.size() - done,
                                               storage_.data() + (first + done) * page_size, page_size);
        for (std::size_t i = 0; i < read; ++i) {
            addresses_.push_back(wanted[done + i]);
            used_.push_back(false);
        }
        done += read;
        if (done < wanted.size()) {
            // That page cannot be read: drop it, and go on with the rest.
            wanted.erase(wanted.begin() + static_cast<std::ptrdiff_t>(done));
        }
    }
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

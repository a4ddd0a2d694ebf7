#include "page_cached_memory.hpp"

#include <algorithm>
#include <cstring>

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

void PageCachedMemory::hold(std::uint64_t page_address, std::size_t begin, std::size_t end, bool span) const {
    index_.emplace(page_address, addresses_.size());
    addresses_.push_back(page_address);
    const auto held_begin = static_cast<std::uint16_t>(begin), held_end = static_cast<std::uint16_t>(end);
    extents_.push_back({.held_begin = held_begin,
                        .held_end = held_end,
                        .span_begin = span ? held_begin : std::uint16_t{0},
                        .span_end = span ? held_end : std::uint16_t{0}});
}

bool PageCachedMemory::complete(std::size_t index) const {
    Extent& extent = extents_[index];
    std::uint8_t* bytes = slot(index);
    const std::uint64_t page_address = addresses_[index];
    Piece pieces[2];
    std::size_t count = 0;
    if (extent.held_begin > 0)
        pieces[count++] = {page_address, bytes, extent.held_begin};
    if (extent.held_end < page_size)
        pieces[count++] = {page_address + extent.held_end, bytes + extent.held_end,
                           page_size - extent.held_end};
    ++fetches_;
    if (memory_.read_scattered(pieces, count) != count)
        return false;
    extent.held_begin = 0;
    extent.held_end = page_size;
    return true;
}

const std::uint8_t* PageCachedMemory::page(std::uint64_t page_address, std::size_t begin,
                                           std::size_t end) const {
    if (last_hit_ == no_slot || addresses_[last_hit_] != page_address) {
        auto found = index_.find(page_address);
        if (found == index_.end()) {
            if (addresses_.size() == max_pages_)
                return nullptr;
            std::uint8_t* into = slot(addresses_.size());
            ++fetches_;
            if (!memory_.read(page_address, into, page_size))
                return nullptr;
            hold(page_address, 0, page_size, false);
            last_hit_ = addresses_.size() - 1;
        } else {
            last_hit_ = found->second;
        }
    }
    Extent& extent = extents_[last_hit_];
    if ((begin < extent.held_begin || end > extent.held_end) && !complete(last_hit_))
        return nullptr;
    if (extent.used_begin == extent.used_end) {
        extent.used_begin = static_cast<std::uint16_t>(begin);
        extent.used_end = static_cast<std::uint16_t>(end);
    } else {
        extent.used_begin = std::min(extent.used_begin, static_cast<std::uint16_t>(begin));
        extent.used_end = std::max(extent.used_end, static_cast<std::uint16_t>(end));
    }
    return slot(last_hit_);
}

std::size_t PageCachedMemory::prefetch(const std::vector<std::uint64_t>& pages, const Piece* after,
                                       std::size_t after_count) const {
    std::vector<Span> spans;
    spans.reserve(pages.size());
    for (std::uint64_t page_address : pages)
        spans.push_back({page_address, 0, static_cast<std::uint16_t>(page_size)});
    return prefetch_spans(spans, after, after_count);
}

std::size_t PageCachedMemory::prefetch_spans(const std::vector<Span>& spans, const Piece* after,
                                             std::size_t after_count) const {
    std::vector<Span>& wanted = wanted_;
    wanted.clear();
    for (const Span& span : spans) {
        const bool valid =
            (span.page & (page_size - 1)) == 0 && span.begin < span.end && span.end <= page_size;
        if (valid && !index_.contains(span.page) &&
            std::none_of(wanted.begin(), wanted.end(),
                         [&](const Span& other) { return other.page == span.page; }))
            wanted.push_back(span);
    }
    if (wanted.size() > max_pages_ - addresses_.size())
        wanted.resize(max_pages_ - addresses_.size());
    if (wanted.empty() && after_count == 0)
        return 0;
    const std::size_t first = addresses_.size();
    // The first call: every span, then `after`.
    std::vector<Piece>& pieces = pieces_;
    pieces.clear();
    for (std::size_t i = 0; i < wanted.size(); ++i)
        pieces.push_back({wanted[i].page + wanted[i].begin, slot(first + i) + wanted[i].begin,
                          static_cast<std::size_t>(wanted[i].end - wanted[i].begin)});
    pieces.insert(pieces.end(), after, after + after_count);
    ++fetches_;
    const std::size_t read_first = memory_.read_scattered(pieces.data(), pieces.size());
    const std::size_t spans_read = std::min(read_first, wanted.size());
    for (std::size_t i = 0; i < spans_read; ++i)
        hold(wanted[i].page, wanted[i].begin, wanted[i].end, true);
    if (spans_read == wanted.size())
        return read_first - spans_read;
    // A page that cannot be read: drop it, and go on with the rest one by one, without `after`
    // (which would no longer follow the snapshot at once).
    for (std::size_t i = spans_read + 1; i < wanted.size(); ++i) {
        const Span& span = wanted[i];
        ++fetches_;
        if (memory_.read(span.page + span.begin, slot(addresses_.size()) + span.begin, span.end - span.begin))
            hold(span.page, span.begin, span.end, true);
    }
    return 0;
}

std::vector<std::uint64_t> PageCachedMemory::used_pages() const {
    std::vector<std::uint64_t> used;
    for (std::size_t i = 0; i < addresses_.size(); ++i)
        if (extents_[i].used_begin != extents_[i].used_end)
            used.push_back(addresses_[i]);
    return used;
}

std::vector<PageCachedMemory::Span> PageCachedMemory::used_spans() const {
    std::vector<Span> used;
    for (std::size_t i = 0; i < addresses_.size(); ++i) {
        const Extent& extent = extents_[i];
        if (extent.used_begin == extent.used_end)
            continue;
        const std::size_t block_begin = extent.used_begin / span_block * span_block;
        const std::size_t block_end = (extent.used_end + span_block - 1) / span_block * span_block;
        std::size_t begin = block_begin >= span_block ? block_begin - span_block : 0;
        std::size_t end = std::min(block_end + span_block, page_size);
        if (extent.span_begin != extent.span_end) {
            begin = std::min<std::size_t>(begin, extent.span_begin);
            end = std::max<std::size_t>(end, extent.span_end);
        }
        used.push_back({addresses_[i], static_cast<std::uint16_t>(begin), static_cast<std::uint16_t>(end)});
    }
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
        const std::size_t offset = at - page_address;
        const std::size_t count = std::min<std::uint64_t>(last - at + 1, page_size - offset);
        const std::uint8_t* bytes = page(page_address, offset, offset + count);
        // A page that cannot be read whole (or no room left): let the target's memory decide.
        if (!bytes) {
            ++fetches_;
            return memory_.read(address, out, size);
        }
        std::memcpy(into + (at - address), bytes + offset, count);
        if (page_address + page_size - 1 >= last)
            break;
        at = page_address + page_size;
    }
    return true;
}

} // namespace sampler

// PageCachedMemory: the same bytes as the memory behind it, each page fetched once, and
// unreadable pages, oversized reads and a full cache handled by reading through.
#include <catch2/catch.hpp>

#include "page_cached_memory.hpp"

#include <cstring>
#include <vector>

using namespace sampler;

namespace {

// Target memory: `pages` readable pages from `base`, each byte (address & 0xFF); counts reads.
class CountingMemory final : public RemoteMemory {
  public:
    CountingMemory(std::uint64_t base, std::size_t pages) : base_(base), end_(base + pages * 4096) {}

    bool read(std::uint64_t address, void* out, std::size_t size) const override {
        ++reads;
        if (address < base_ || address + size > end_ || address + size < address)
            return false;
        auto* bytes = static_cast<std::uint8_t*>(out);
        for (std::size_t i = 0; i < size; ++i)
            bytes[i] = static_cast<std::uint8_t>((address + i) & 0xFF);
        return true;
    }

    mutable int reads = 0;

  private:
    std::uint64_t base_, end_;
};

bool holds_pattern(const std::vector<std::uint8_t>& bytes, std::uint64_t address) {
    for (std::size_t i = 0; i < bytes.size(); ++i)
        if (bytes[i] != static_cast<std::uint8_t>((address + i) & 0xFF))
            return false;
    return true;
}

} // namespace

TEST_CASE("page cache: small reads of one page cost one target read", "[page_cache]") {
    CountingMemory target(0x10000, 4);
    PageCachedMemory cached(target);
    for (std::uint64_t address = 0x10000; address < 0x10F00; address += 80) {
        std::vector<std::uint8_t> bytes(72);
        REQUIRE(cached.read(address, bytes.data(), bytes.size()));
        CHECK(holds_pattern(bytes, address));
    }
    CHECK(target.reads == 1);

    // A read across a page boundary fetches the next page too; both stay cached.
    std::vector<std::uint8_t> across(200);
    REQUIRE(cached.read(0x10FA0, across.data(), across.size()));
    CHECK(holds_pattern(across, 0x10FA0));
    CHECK(target.reads == 2);
    CHECK(cached.pages_cached() == 2);

    cached.forget();
    std::uint64_t value = 0;
    REQUIRE(cached.read_value(0x10008, value));
    CHECK(target.reads == 3);
}

TEST_CASE("page cache: unreadable, oversized and overflowing reads go to the target", "[page_cache]") {
    CountingMemory target(0x10000, 4);
    PageCachedMemory cached(target, 2);
    std::uint64_t value = 0;
    CHECK_FALSE(cached.read_value(0x9000, value));            // below the mapping
    CHECK_FALSE(cached.read_value(0x13FFC, value));           // runs past the last page
    CHECK_FALSE(cached.read_value(~std::uint64_t(3), value)); // wraps around
    CHECK(cached.pages_cached() == 1);                        // the last page itself is readable, and kept

    std::vector<std::uint8_t> big(3 * 4096);
    REQUIRE(cached.read(0x10000, big.data(), big.size()));
    CHECK(holds_pattern(big, 0x10000));
    CHECK(cached.pages_cached() == 1);
    cached.forget();

    // With the cache full (two pages), a third page is read directly, and correctly.
    REQUIRE(cached.read_value(0x10010, value));
    REQUIRE(cached.read_value(0x11010, value));
    const int before = target.reads;
    std::vector<std::uint8_t> third(16);
    REQUIRE(cached.read(0x12010, third.data(), third.size()));
    CHECK(holds_pattern(third, 0x12010));
    CHECK(target.reads == before + 1);
    CHECK(cached.pages_cached() == 2);
    CHECK(cached.read(0x12010, third.data(), 0)); // nothing to read
}

TEST_CASE("page cache: prefetched pages serve later reads, unreadable ones are skipped", "[page_cache]") {
    CountingMemory target(0x10000, 4);
    PageCachedMemory cache(target);
    // Two readable pages around one outside the memory (the default read_scattered stops there).
    cache.prefetch({0x11000, 0x90000, 0x13000, 0x11000});
    CHECK(cache.pages() == std::vector<std::uint64_t>{0x11000, 0x13000});
    const int reads_after_prefetch = target.reads;
    std::vector<std::uint8_t> bytes(64);
    REQUIRE(cache.read(0x13010, bytes.data(), bytes.size()));
    CHECK(holds_pattern(bytes, 0x13010));
    REQUIRE(cache.read(0x11ff0, bytes.data(), 16));
    CHECK(target.reads == reads_after_prefetch); // both from the prefetched pages
    // A page not prefetched is fetched on demand, as before.
    REQUIRE(cache.read(0x12000, bytes.data(), 8));
    CHECK(target.reads == reads_after_prefetch + 1);
    cache.forget();
    CHECK(cache.pages().empty());
}

TEST_CASE("page cache: words read right after the prefetched pages, or not at all when a page fails",
          "[page_cache]") {
    CountingMemory target(0x10000, 4);
    PageCachedMemory cache(target);
    std::uint64_t words[2] = {};
    const RemoteMemory::Piece after[] = {{0x12008, &words[0], 8}, {0x13010, &words[1], 8}};
    CHECK(cache.prefetch({0x10000, 0x11000}, after, 2) == 2);
    CHECK(cache.pages() == std::vector<std::uint64_t>{0x10000, 0x11000});
    std::vector<std::uint8_t> bytes(8);
    std::memcpy(bytes.data(), &words[1], 8);
    CHECK(holds_pattern(bytes, 0x13010));
    // An unreadable word after them: the pages are kept, the count says how many words.
    const RemoteMemory::Piece unreadable[] = {{0x12008, &words[0], 8}, {0x90000, &words[1], 8}};
    cache.forget();
    CHECK(cache.prefetch({0x10000}, unreadable, 2) == 1);
    CHECK(cache.pages() == std::vector<std::uint64_t>{0x10000});
    // An unreadable page: the other pages are still fetched, the words are not read.
    cache.forget();
    CHECK(cache.prefetch({0x10000, 0x90000, 0x13000}, after, 2) == 0);
    CHECK(cache.pages() == std::vector<std::uint64_t>{0x10000, 0x13000});
}

TEST_CASE("page cache: only the pages reads used are offered for the next prefetch", "[page_cache]") {
    CountingMemory target(0x10000, 4);
    PageCachedMemory cache(target);
    std::vector<std::uint64_t> wanted{0x10000, 0x11000, 0x12000};
    std::vector<std::uint8_t> bytes(8);
    for (int walk = 0; walk < 3; ++walk) {
        cache.forget();
        cache.prefetch(wanted);
        // This walk reads one prefetched page and one it had not asked for.
        REQUIRE(cache.read(0x11008, bytes.data(), bytes.size()));
        REQUIRE(cache.read(0x13000, bytes.data(), bytes.size()));
        wanted = cache.used_pages();
        // A prefetched page no read touched drops out, so the list cannot grow walk after walk.
        CHECK(wanted == std::vector<std::uint64_t>{0x11000, 0x13000});
    }
}

TEST_CASE("page cache: a deep stack's hundreds of pages are each fetched once, and prefetched as one list",
          "[page_cache]") {
    // A 4096-deep 3.11+ Python stack spans about 100 pages of frames; older interpreters' frame
    // objects are scattered over more. Each page must cost one read, not one per frame.
    constexpr std::size_t pages = 300;
    CountingMemory target(0x100000, pages);
    PageCachedMemory cache(target);
    std::vector<std::uint8_t> bytes(24);
    for (int pass = 0; pass < 2; ++pass)
        for (std::uint64_t at = 0x100000; at < 0x100000 + pages * 4096; at += 100) {
            REQUIRE(cache.read(at, bytes.data(), bytes.size()));
            REQUIRE(holds_pattern(bytes, at));
        }
    CHECK(target.reads == static_cast<int>(pages)); // the second pass read nothing
    CHECK(cache.pages_cached() == pages);
    // The next walk: one prefetch of the pages used (the default read_scattered reads them one
    // by one here; the process memory's reads them in a few system calls), then no read at all.
    const std::vector<std::uint64_t> used = cache.used_pages();
    CHECK(used.size() == pages);
    cache.forget();
    cache.prefetch(used);
    const int after_prefetch = target.reads;
    for (std::uint64_t at = 0x100000; at < 0x100000 + pages * 4096; at += 100)
        REQUIRE(cache.read(at, bytes.data(), bytes.size()));
    CHECK(target.reads == after_prefetch);
}

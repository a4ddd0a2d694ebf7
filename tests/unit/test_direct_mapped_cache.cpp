#include "sampler/direct_mapped_cache.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <random>

using namespace sampler;

TEST_CASE("a direct-mapped cache finds what was put, forgets what a later key displaced") {
    DirectMappedCache<int, 4> cache; // 16 slots
    CHECK(cache.find(0) == nullptr); // an empty slot is not key 0
    cache.put(0x401000, 7);
    REQUIRE(cache.find(0x401000) != nullptr);
    CHECK(*cache.find(0x401000) == 7);
    CHECK(cache.find(0x401001) == nullptr);
    cache.put(0x401000, 8);
    CHECK(*cache.find(0x401000) == 8);

    // Whatever collides, a hit is always the value last put for that very key.
    std::map<std::uint64_t, int> last;
    std::mt19937_64 random(42);
    for (int i = 0; i < 2000; ++i) {
        const std::uint64_t key = 0x7f0000000000 + (random() % 64) * 16;
        last[key] = i;
        cache.put(key, i);
        const std::uint64_t probe = 0x7f0000000000 + (random() % 64) * 16;
        if (const int* found = cache.find(probe))
            CHECK(*found == last.at(probe));
    }
    cache.clear();
    for (const auto& [key, value] : last)
        CHECK(cache.find(key) == nullptr);
}

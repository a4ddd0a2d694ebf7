// ProcessMemory on this test's own memory (process_vm_readv on oneself needs no privilege):
// scattered pieces come back whole and in place, however they are joined into system calls.
#include "remote_memory.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

using sampler::ProcessMemory;
using sampler::RemoteMemory;

namespace {

// Four pages of known bytes; the third can be made unreadable.
struct Pages {
    static constexpr std::size_t size = 4096;
    std::uint8_t* base = static_cast<std::uint8_t*>(
        ::mmap(nullptr, 4 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    Pages() {
        REQUIRE(base != MAP_FAILED);
        for (std::size_t i = 0; i < 4 * size; ++i)
            base[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
    }
    ~Pages() { ::munmap(base, 4 * size); }
    std::uint64_t at(std::size_t offset) const { return reinterpret_cast<std::uint64_t>(base + offset); }
};

} // namespace

TEST_CASE("process memory: scattered pieces read whole and in place, joined or not") {
    Pages pages;
    ProcessMemory memory(::getpid());
    // Same page with a gap, adjacent, the next page, two pages on (not joined), backwards,
    // an empty piece, and a piece spanning a page boundary.
    const std::vector<std::pair<std::size_t, std::size_t>> spans{
        {16, 8}, {200, 172}, {372, 4}, {4096 + 40, 8}, {3 * 4096 + 8, 16}, {100, 8}, {500, 0}, {4090, 20}};
    std::vector<std::vector<std::uint8_t>> out;
    std::vector<RemoteMemory::Piece> pieces;
    out.reserve(spans.size());
    for (auto [offset, size] : spans) {
        out.emplace_back(size + 1, 0xEE); // one byte past the piece: must stay untouched
        pieces.push_back({pages.at(offset), out.back().data(), size});
    }
    REQUIRE(memory.read_scattered(pieces.data(), pieces.size()) == pieces.size());
    for (std::size_t i = 0; i < spans.size(); ++i) {
        INFO("piece " << i);
        CHECK(std::memcmp(out[i].data(), pages.base + spans[i].first, spans[i].second) == 0);
        CHECK(out[i].back() == 0xEE);
    }
}

TEST_CASE("process memory: a scattered read stops at the first piece that cannot be read whole") {
    Pages pages;
    REQUIRE(::mprotect(pages.base + 2 * Pages::size, Pages::size, PROT_NONE) == 0);
    ProcessMemory memory(::getpid());
    std::uint64_t words[4] = {};
    std::uint8_t straddling[16] = {};
    SECTION("joined with the pieces before it") {
        // Page 1 then page 2 (unreadable, the next page: the same iovec), then page 3.
        RemoteMemory::Piece pieces[] = {{pages.at(4096 + 8), &words[0], 8},
                                        {pages.at(4096 + 4000), &words[1], 8},
                                        {pages.at(2 * 4096 + 16), &words[2], 8},
                                        {pages.at(3 * 4096), &words[3], 8}};
        CHECK(memory.read_scattered(pieces, 4) == 2);
        std::uint64_t expected = 0;
        std::memcpy(&expected, pages.base + 4096 + 4000, 8);
        CHECK(words[1] == expected);
    }
    SECTION("a piece running into the unreadable page") {
        RemoteMemory::Piece pieces[] = {{pages.at(8), &words[0], 8},
                                        {pages.at(2 * 4096 - 8), straddling, sizeof straddling}};
        CHECK(memory.read_scattered(pieces, 2) == 1);
    }
}

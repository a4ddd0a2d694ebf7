#include "elf_image.hpp"
#include "module_map.hpp"
#include "sampler/error.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace sampler;

namespace {

// Whether our own executable is position-independent, from its ELF header's e_type: a
// self-contained build links it without PIE, the sanitizer build with.
bool own_executable_is_pie() {
    std::ifstream file("/proc/self/exe", std::ios::binary);
    unsigned char header[18] = {};
    file.read(reinterpret_cast<char*>(header), sizeof header);
    REQUIRE(file);
    return (header[16] | (header[17] << 8)) == 3; // ET_DYN, little-endian
}

} // namespace

TEST_CASE("our own executable parses: its type, load segments, eh_frame_hdr, build-id") {
    auto image = ElfImage::open("/proc/self/exe");
    CHECK(image->is_shared_object() == own_executable_is_pie());
    CHECK(image->load_segments().size() >= 2);
    REQUIRE(image->eh_frame_hdr());
    CHECK(image->build_id_hex().size() == 40);
}

TEST_CASE("load bias places link-time addresses at run time") {
    ModuleMap modules(::getpid());
    modules.refresh();
    auto here = reinterpret_cast<std::uint64_t>(&ElfImage::open);
    const Module* module = modules.module_at(here);
    REQUIRE(module);
    CHECK(module->image->is_shared_object() == own_executable_is_pie());
    CHECK((module->bias != 0) == own_executable_is_pie()); // a fixed-address executable needs none
    // The bytes at a run-time code address equal the file's bytes at the link-time address.
    std::uint64_t word = 0;
    REQUIRE(modules.read_file_backed(here, &word, sizeof word));
    std::uint64_t live = 0;
    std::memcpy(&live, reinterpret_cast<const void*>(here), sizeof live);
    CHECK(word == live);
}

TEST_CASE("malformed ELF bytes are rejected with an error, never a crash") {
    std::vector<std::uint8_t> bytes(64, 0);
    CHECK_THROWS_AS(ElfImage::parse(bytes, nullptr, "zeros"), Error);
    std::vector<std::uint8_t> tiny{0x7f, 'E', 'L', 'F'};
    CHECK_THROWS_AS(ElfImage::parse(tiny, nullptr, "tiny"), Error);
    CHECK_THROWS_AS(ElfImage::open("/nonexistent/file"), Error);
    CHECK_THROWS_AS(ElfImage::open("/proc/self"), Error);
}

TEST_CASE("random corruption of a real ELF header never crashes the parser") {
    auto real = ElfImage::open("/proc/self/exe");
    std::vector<std::uint8_t> original(real->bytes().begin(), real->bytes().begin() + 4096);
    std::mt19937 random(12345);
    int parsed = 0;
    int rejected = 0;
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> bytes = original;
        for (int flips = 0; flips < 8; ++flips)
            bytes[random() % 128] = static_cast<std::uint8_t>(random());
        bytes.resize(64 + random() % 4032);
        try {
            auto image = ElfImage::parse(bytes, nullptr, "fuzzed");
            for (const auto& segment : image->load_segments())
                (void)segment;
            ++parsed;
        } catch (const Error&) {
            ++rejected;
        }
    }
    // Any other exception, or a crash, has already failed the test. These say the corruption
    // reached both outcomes: headers still usable, and headers refused.
    INFO("parsed " << parsed << " rejected " << rejected);
    CHECK(parsed > 0);
    CHECK(rejected > 0);
}

#include "eh_frame_hdr.hpp"
#include "elf_image.hpp"
#include "module_map.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <unistd.h>

using namespace sampler;

TEST_CASE("eh_frame_hdr of our own executable gives a table inside the file") {
    ModuleMap modules(::getpid());
    modules.refresh();
    const Module* module = modules.module_at(reinterpret_cast<std::uint64_t>(&ElfImage::open));
    REQUIRE(module);
    auto table = locate_eh_frame_table(*module);
    REQUIRE(table);
    CHECK(table->entry_count > 10);
    CHECK(table->table_address > table->header_address);
    CHECK(table->table_address >= module->start);
    CHECK(table->table_address < module->end);
}

TEST_CASE("eh_frame_hdr parsing rejects what it does not understand and bounds the table") {
    // version 1, eh_frame_ptr pcrel|sdata4, fde_count udata4, table datarel|sdata4
    std::vector<std::uint8_t> header{1, 0x1b, 0x03, 0x3b, 0, 0, 0, 0, 100, 0, 0, 0};
    header.resize(header.size() + 2 * 8); // room for two entries, though the count says 100
    auto table = parse_eh_frame_hdr(header, 0x1000);
    REQUIRE(table);
    CHECK(table->entry_count == 2);
    CHECK(table->table_address == 0x1000 + 12);
    std::vector<std::uint8_t> wrong_version = header;
    wrong_version[0] = 2;
    CHECK_FALSE(parse_eh_frame_hdr(wrong_version, 0x1000));
    std::vector<std::uint8_t> unsorted = header;
    unsorted[3] = 0x03;
    CHECK_FALSE(parse_eh_frame_hdr(unsorted, 0x1000));
    CHECK_FALSE(parse_eh_frame_hdr(std::span<const std::uint8_t>(header.data(), 6), 0x1000));
    std::mt19937 random(7);
    for (int round = 0; round < 5000; ++round) {
        std::vector<std::uint8_t> noise(random() % 40);
        for (auto& b : noise)
            b = static_cast<std::uint8_t>(random());
        if (auto parsed = parse_eh_frame_hdr(noise, 0x1000))
            CHECK(parsed->entry_count * 8 <= noise.size());
    }
}

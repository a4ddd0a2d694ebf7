// Garbage in, no crash out: the reader and its decoders fed random memory, and valid synthetic
// interpreters with random corruption, many times with fixed seeds. Must also pass under ASan +
// UBSan. Every walk is bounded (depth, threads, string and table sizes), so these also show it
// ends.

#include "debug_offsets.hpp"
#include "dict_reader.hpp"
#include "elf_symbols.hpp"
#include "instance_dict.hpp"
#include "line_table.hpp"
#include "synthetic_frames.hpp"
#include "synthetic_python.hpp"
#include "thread_names.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <unordered_set>

using namespace sampler;
using namespace sampler::python;
using namespace sampler::testing;

namespace {

constexpr std::uint64_t region_a = 0x10000000, region_b = 0x20000000;
constexpr std::size_t region_size = 32 * 1024;

// A pointer into one of the fuzz regions, usually aligned.
std::uint64_t random_pointer(std::mt19937_64& rng) {
    std::uint64_t base = rng() % 2 ? region_a : region_b;
    std::uint64_t offset = rng() % region_size;
    return base + (rng() % 8 ? offset & ~std::uint64_t{7} : offset);
}

// A u64 that a walker is likely to follow or trip over.
std::uint64_t random_word(std::mt19937_64& rng, std::uint64_t own_address) {
    switch (rng() % 8) {
    case 0:
    case 1:
    case 2:
        return random_pointer(rng);
    case 3:
        return rng() % 64;
    case 4:
        return own_address; // self-pointers pass the pthread check
    case 5:
        return 0;
    case 6:
        return (rng() % 0x100) << (8 * (rng() % 4)); // string state bits, small lengths
    default:
        return rng();
    }
}

void fill_random(FakeMemory& memory, std::uint64_t base, std::size_t size, std::mt19937_64& rng) {
    memory.add_range(base, size);
    for (std::uint64_t at = base; at + 8 <= base + size; at += 8)
        memory.put(at, random_word(rng, at));
}

void read_everything(PythonReader& reader, const RemoteMemory& memory, std::mt19937_64& rng) {
    std::uint64_t errors = 0;
    auto threads = reader.read_threads(memory, &errors);
    CHECK(threads.size() <= PythonReader::max_threads);
    std::size_t frames = 0;
    for (const PythonThread& thread : threads) {
        REQUIRE(thread.frames.size() <= PythonReader::max_depth + 1);
        frames += thread.frames.size();
        for (const PythonFrame& frame : thread.frames) {
            REQUIRE(frame.name.size() <= 4 * max_string_chars);
            REQUIRE(frame.file.size() <= 4 * max_string_chars);
        }
    }
    CHECK(frames <= PythonReader::max_total_frames + threads.size());
    (void)reader.read_thread(memory, static_cast<int>(rng() % 100), &errors);
    (void)reader.gil_holder_tid(memory);
    for (const auto& [tid, name] : reader.thread_names(memory))
        REQUIRE(name.size() <= 4 * max_string_chars);
    // The frame walker from arbitrary starting points, beyond what the thread list reaches.
    for (int i = 0; i < 8; ++i) {
        PythonThread thread;
        reader.impl().walker.walk(memory, random_pointer(rng), thread, errors);
        REQUIRE(thread.frames.size() <= PythonReader::max_depth + 1);
    }
}

} // namespace

TEST_CASE("random memory through every layout's reader", "[python][fuzz]") {
    std::mt19937_64 rng(20240601);
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        for (int iteration = 0; iteration < 60; ++iteration) {
            FakeMemory memory;
            fill_random(memory, region_a, region_size, rng);
            fill_random(memory, region_b, region_size, rng);
            PythonTarget target;
            target.layout = *layout;
            target.version = layout->name();
            target.entry_address = random_pointer(rng);
            target.gil_current_address = random_pointer(rng);
            if (rng() % 2) // with and without type checks
                target.types = {random_pointer(rng), random_pointer(rng), random_pointer(rng),
                                random_pointer(rng)};
            PythonReader reader(std::make_unique<PythonReader::Impl>(target));
            read_everything(reader, memory, rng);
        }
    }
}

TEST_CASE("valid synthetic interpreters with random corruption", "[python][fuzz]") {
    std::mt19937_64 rng(77);
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        for (int iteration = 0; iteration < 40; ++iteration) {
            SyntheticPython py(*layout, 256 * 1024);
            std::vector<std::uint64_t> codes;
            for (int i = 0; i < 4; ++i)
                codes.push_back(py.code("f" + std::to_string(i), "file.py", i + 1,
                                        {0x80 | (10 << 3) | 7, 0, 2, 1, 4, 2}));
            for (int t = 0; t < 3; ++t) {
                std::uint64_t frame = 0;
                for (int depth = 0; depth < 20; ++depth) {
                    std::uint64_t code = codes[rng() % codes.size()];
                    frame = layout->frames == FrameModel::frame_object
                                ? py.frame_object(code, frame, static_cast<int>(rng() % 16))
                                : py.interpreter_frame(code, frame, static_cast<std::int64_t>(rng() % 16),
                                                       static_cast<int>(rng() % 5), rng() % 2);
                }
                std::uint64_t state = py.thread_state(frame, 100 + t);
                if (t == 1)
                    py.set_gil_holder(state);
            }
            // Corrupt: random words and bytes anywhere in what was built.
            std::uint64_t used = 64 * 1024;
            for (int i = 0, n = static_cast<int>(rng() % 40) + 1; i < n; ++i) {
                std::uint64_t at = SyntheticPython::heap_start + (rng() % used);
                if (rng() % 2)
                    py.memory().put(at & ~std::uint64_t{7}, random_word(rng, at));
                else
                    py.memory().put(at, static_cast<std::uint8_t>(rng()));
            }
            PythonReader reader = py.reader();
            read_everything(reader, py.memory(), rng);
        }
    }
}

namespace {

// A dict of the layout's model at `dict` whose sizes pass the reader's checks (so the walk gets
// to the entries), with random entries, and half the time a split values array.
void plausible_dict(FakeMemory& memory, const PythonLayout& layout, std::uint64_t dict,
                    std::mt19937_64& rng) {
    const DictLayout& d = layout.dict;
    std::uint64_t keys = random_pointer(rng) & ~std::uint64_t{7};
    auto put = [&](std::uint64_t at, auto value) {
        try {
            memory.put(at, value);
        } catch (const std::logic_error&) {
            // Past the end of a region: the walk then just reads less.
        }
    };
    unsigned log2 = static_cast<unsigned>(rng() % 6) + 3;
    if (d.model == DictModel::open_table) {
        put(dict + static_cast<std::uint64_t>(d.mask), (std::uint64_t{1} << log2) - 1);
        put(dict + static_cast<std::uint64_t>(d.table), keys);
        return;
    }
    put(dict + static_cast<std::uint64_t>(d.keys), keys);
    put(dict + static_cast<std::uint64_t>(d.values), rng() % 2 ? random_pointer(rng) : 0);
    std::uint64_t entries = rng() % ((2u << log2) / 3 + 1);
    put(keys + static_cast<std::uint64_t>(d.keys_nentries), entries);
    if (d.model == DictModel::indexed_keys) {
        put(keys + static_cast<std::uint64_t>(d.keys_size), std::uint64_t{1} << log2);
    } else {
        put(keys + static_cast<std::uint64_t>(d.keys_log2_size), static_cast<std::uint8_t>(log2));
        put(keys + static_cast<std::uint64_t>(d.keys_log2_index_bytes), static_cast<std::uint8_t>(log2));
        put(keys + static_cast<std::uint64_t>(d.keys_kind), static_cast<std::uint8_t>(rng() % 3));
    }
}

} // namespace

TEST_CASE("dicts, instance dicts and thread names on random memory", "[python][fuzz]") {
    std::mt19937_64 rng(424242);
    for (const PythonLayout* layout : all_layouts) {
        INFO("layout " << layout->name());
        for (int iteration = 0; iteration < 200; ++iteration) {
            FakeMemory memory;
            fill_random(memory, region_a, region_size, rng);
            fill_random(memory, region_b, region_size, rng);
            for (int i = 0; i < 16; ++i)
                plausible_dict(memory, *layout, random_pointer(rng) & ~std::uint64_t{7}, rng);
            ObjectReader objects(*layout, {});
            DictReader dicts(*layout);
            for (int i = 0; i < 16; ++i) {
                if (auto entries = dicts.entries(memory, random_pointer(rng)))
                    REQUIRE(entries->size() <= max_dict_slots);
                if (auto entries = dicts.split_entries(memory, random_pointer(rng), {random_pointer(rng)}))
                    REQUIRE(entries->size() <= max_dict_slots);
                (void)instance_attributes(memory, dicts, *layout, random_pointer(rng));
            }
            ThreadNameReader names(objects);
            std::unordered_set<std::uint64_t> idents;
            for (int i = 0; i < 8; ++i)
                idents.insert(rng() % 2 ? random_word(rng, 0) : random_pointer(rng));
            for (int i = 0; i < 4; ++i)
                for (const auto& [ident, name] : names.read(memory, random_pointer(rng), idents)) {
                    CHECK(idents.contains(ident));
                    REQUIRE(name.size() <= 4 * max_string_chars);
                }
        }
    }
}

TEST_CASE("line-table decoders on random tables and offsets", "[python][fuzz]") {
    std::mt19937_64 rng(5);
    for (int iteration = 0; iteration < 5000; ++iteration) {
        std::vector<std::uint8_t> table(rng() % 64);
        for (auto& byte : table)
            byte = static_cast<std::uint8_t>(rng());
        int first_line = static_cast<int>(rng());
        int offset = static_cast<int>(rng() % 300) - 10;
        const std::uint32_t first = first_line > 0 ? static_cast<std::uint32_t>(first_line) : 0;
        INFO("iteration " << iteration << " table size " << table.size() << " offset " << offset);
        // What the decoders promise whatever the bytes. Before the first instruction: the
        // first line, in every format.
        for (auto format : {LineTableFormat::lnotab_unsigned, LineTableFormat::lnotab,
                            LineTableFormat::linetable_310, LineTableFormat::location_table}) {
            const std::uint32_t line = line_for_offset(format, table, first_line, offset);
            if (offset < 0)
                CHECK(line == first);
        }
        if (offset < 0)
            continue;
        // 2.7's deltas are unsigned: lines never go back as the offset grows.
        CHECK(line_for_offset(LineTableFormat::lnotab_unsigned, table, first_line, offset + 1) >=
              line_for_offset(LineTableFormat::lnotab_unsigned, table, first_line, offset));
        // Past the code the table covers there is no line: 3.10 entries cover their first byte's
        // worth, a 3.11+ entry at most 8 code units (16 bytes) and takes at least one byte.
        long covered_310 = 0;
        for (std::size_t i = 0; i + 1 < table.size(); i += 2)
            covered_310 += table[i];
        if (offset >= covered_310)
            CHECK(line_for_offset(LineTableFormat::linetable_310, table, first_line, offset) == 0);
        if (offset >= 16 * static_cast<long>(table.size()))
            CHECK(line_for_offset(LineTableFormat::location_table, table, first_line, offset) == 0);
    }
}

TEST_CASE("_Py_DebugOffsets parser on random contents", "[python][fuzz]") {
    std::mt19937_64 rng(9);
    for (int iteration = 0; iteration < 2000; ++iteration) {
        std::vector<std::uint8_t> bytes(rng() % 2 ? debug_offsets_read_size : rng() % 900);
        for (auto& byte : bytes)
            byte = static_cast<std::uint8_t>(rng() % 4 ? rng() % 64 : rng());
        if (bytes.size() >= 24) {
            std::memcpy(bytes.data(), debug_offsets_cookie, 8);
            std::uint64_t version = rng() % 2 ? 0x030d00f0 : 0x030e00f0;
            std::memcpy(bytes.data() + 8, &version, 8);
            std::memset(bytes.data() + 16, 0, 8);
        }
        std::string why;
        auto layout = layout_from_debug_offsets(bytes, &why);
        CHECK((layout.has_value() || !why.empty()));
    }
}

TEST_CASE("ELF symbol tables of corrupted files", "[python][fuzz]") {
    // A small real ELF file (with .dynsym), so each mutated copy is cheap.
    std::ifstream in(std::filesystem::exists("/usr/bin/true") ? "/usr/bin/true" : "/proc/self/exe",
                     std::ios::binary);
    std::vector<std::uint8_t> original((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
    REQUIRE(original.size() > 4096);
    std::mt19937_64 rng(3);
    for (int iteration = 0; iteration < 200; ++iteration) {
        auto bytes = std::make_shared<std::vector<std::uint8_t>>(original);
        if (iteration % 4 == 0)
            bytes->resize(rng() % bytes->size());
        for (int i = 0; i < 64; ++i) {
            // Aim at the headers and tables, where a bad value matters.
            std::size_t at = rng() % 3 == 0 ? rng() % std::min<std::size_t>(bytes->size(), 4096)
                                            : rng() % std::max<std::size_t>(bytes->size(), 1);
            if (at < bytes->size())
                (*bytes)[at] = static_cast<std::uint8_t>(rng());
        }
        std::shared_ptr<const ElfImage> image;
        try {
            image = ElfImage::parse(*bytes, nullptr, "fuzz");
        } catch (const std::exception&) {
            continue;
        }
        ElfSymbols symbols(image);
        (void)symbols.find("main");
        (void)symbols.find("__libc_start_main");
        (void)symbols.find("_PyRuntime");
        (void)symbols.section(".text");
        (void)symbols.bytes_at(rng(), rng() % 64);
    }
}

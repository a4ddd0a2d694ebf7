// Pieces of detection that need no live process: version from names and bytes, the 3.13+
// _Py_DebugOffsets parser, and ELF symbol lookup on the installed libpythons.

#include "debug_offsets.hpp"
#include "elf_symbols.hpp"
#include "interpreters.hpp"
#include "python_version.hpp"
#include "skips.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace sampler;
using namespace sampler::python;
using namespace sampler::testing;

TEST_CASE("version from file names", "[python][detect]") {
    auto check = [](const char* name, int major, int minor) {
        auto version = version_from_file_name(name);
        INFO(name);
        REQUIRE(version);
        CHECK(version->major == major);
        CHECK(version->minor == minor);
    };
    check("libpython3.6m.so.1.0", 3, 6);
    check("libpython2.7.so.1.0", 2, 7);
    check("python3.11", 3, 11);
    check("libpython3.13.so", 3, 13);
    CHECK_FALSE(version_from_file_name("python3"));
    CHECK_FALSE(version_from_file_name("libc.so.6"));
    CHECK_FALSE(version_from_file_name("python"));
}

TEST_CASE("full version from a file's strings", "[python][detect]") {
    std::string data = std::string("junk\0"
                                   "13.9.1\0"
                                   "/build/Python-3.9.18\0",
                                   33);
    std::vector<std::uint8_t> bytes(data.begin(), data.end());
    CHECK(full_version_from_bytes(bytes, {3, 9}) == "3.9.18");
    CHECK(full_version_from_bytes(bytes, {3, 8}) == "3.8");
    CHECK(format_version_hex(0x030d00f0) == "3.13.0");
    CHECK(format_version_hex(0x030e00b2) == "3.14.0b2");
    CHECK(format_version_hex(0x030b07f0) == "3.11.7");
}

namespace {

// A _Py_DebugOffsets image with the given u64 values at the given byte positions.
std::vector<std::uint8_t> debug_offsets(std::uint64_t version,
                                        std::initializer_list<std::pair<int, std::uint64_t>> fields) {
    std::vector<std::uint8_t> bytes(debug_offsets_read_size, 0);
    std::memcpy(bytes.data(), "xdebugpy", 8);
    std::memcpy(bytes.data() + 8, &version, 8);
    for (auto [position, value] : fields)
        std::memcpy(bytes.data() + position, &value, 8);
    return bytes;
}

// The 3.13.0 values, as read from a live process (docs/cpython-layouts.md section 8).
std::vector<std::uint8_t> debug_offsets_3_13() {
    return debug_offsets(
        0x030d00f0, {{24, 283320}, {32, 608},   {40, 632},   {48, 194968}, {56, 7272}, {64, 7264}, {72, 7344},
                     {112, 16},    {120, 7752}, {136, 7768}, {144, 7760},  {152, 304}, {160, 0},   {168, 8},
                     {176, 16},    {184, 72},   {192, 152},  {200, 160},   {224, 80},  {232, 8},   {240, 0},
                     {248, 56},    {256, 72},   {264, 70},   {272, 208},   {280, 112}, {288, 120}, {296, 128},
                     {304, 136},   {312, 68},   {344, 200},  {352, 16},    {360, 8},   {512, 40},  {520, 16},
                     {528, 32},    {536, 64},   {544, 32},   {552, 16},    {560, 40},  {88, 7656}, {368, 416},
                     {376, 24},    {384, 88},   {392, 168},  {448, 48},    {456, 32},  {464, 40}});
}

} // namespace

TEST_CASE("3.13 _Py_DebugOffsets give the measured 3.13 layout", "[python][detect]") {
    std::string why;
    auto layout = layout_from_debug_offsets(debug_offsets_3_13(), &why);
    INFO(why);
    REQUIRE(layout);
    const PythonLayout& table = layout_3_13();
    CHECK(layout->runtime.interpreters_head == table.runtime.interpreters_head);
    CHECK(layout->interp.next == table.interp.next);
    CHECK(layout->interp.threads_head == table.interp.threads_head);
    CHECK(layout->interp.gil_pointer == table.interp.gil_pointer);
    CHECK(layout->gil.last_holder == table.gil.last_holder);
    CHECK(layout->gil.locked == table.gil.locked);
    CHECK(layout->tstate.next == table.tstate.next);
    CHECK(layout->tstate.interp == table.tstate.interp);
    CHECK(layout->tstate.frame == table.tstate.frame);
    CHECK(layout->tstate.native_thread_id == table.tstate.native_thread_id);
    CHECK(layout->interp_frame.code == table.interp_frame.code);
    CHECK(layout->interp_frame.previous == table.interp_frame.previous);
    CHECK(layout->interp_frame.instr == table.interp_frame.instr);
    CHECK(layout->interp_frame.owner == table.interp_frame.owner);
    CHECK(layout->code.firstlineno == table.code.firstlineno);
    CHECK(layout->code.filename == table.code.filename);
    CHECK(layout->code.qualname == table.code.qualname);
    CHECK(layout->code.linetable == table.code.linetable);
    CHECK(layout->code.code_adaptive == table.code.code_adaptive);
    CHECK(layout->code.firsttraceable == table.code.firsttraceable);
    CHECK(layout->strings.unicode_ascii_data == table.strings.unicode_ascii_data);
    CHECK(layout->strings.unicode_compact_data == table.strings.unicode_compact_data);
    CHECK(layout->strings.bytes_data == table.strings.bytes_data);
    CHECK(layout->interp.modules == table.interp.modules);
    CHECK(layout->type.flags == table.type.flags);
    CHECK(layout->dict.keys == table.dict.keys);
    CHECK(layout->dict.values == table.dict.values);
}

TEST_CASE("_Py_DebugOffsets that cannot be trusted are refused with a reason", "[python][detect]") {
    std::string why;
    auto bytes = debug_offsets_3_13();
    bytes[0] = 'X';
    CHECK_FALSE(layout_from_debug_offsets(bytes, &why));
    CHECK(why.find("cookie") != std::string::npos);

    bytes = debug_offsets_3_13();
    std::uint64_t huge = 1u << 30;
    std::memcpy(bytes.data() + 72, &huge, 8); // threads_head past the interpreter's size
    CHECK_FALSE(layout_from_debug_offsets(bytes, &why));
    CHECK(why.find("out-of-range") != std::string::npos);

    bytes = debug_offsets_3_13();
    std::uint64_t free_threaded = 1;
    std::memcpy(bytes.data() + 16, &free_threaded, 8);
    CHECK_FALSE(layout_from_debug_offsets(bytes, &why));
    CHECK(why.find("free-threaded") != std::string::npos);

    CHECK_FALSE(layout_from_debug_offsets(debug_offsets(0x030f00f0, {}), &why));
    CHECK(why.find("3.15.0") != std::string::npos);
}

TEST_CASE("ELF symbols of the installed libpythons", "[python][detect][live]") {
    for (std::string version : {"2.7", "3.6", "3.9", "3.12", "3.13"}) {
        auto interpreter = find_pyenv_interpreter(version);
        auto library = interpreter ? pyenv_libpython(*interpreter) : std::nullopt;
        if (!library) {
            skip_part("no pyenv libpython for CPython " + version);
            continue;
        }
        INFO(*library);
        ElfSymbols symbols(ElfImage::open(*library));
        auto code_type = symbols.find("PyCode_Type");
        REQUIRE(code_type);
        CHECK_FALSE(code_type->local);
        CHECK(code_type->size > 0);
        if (version == "2.7" || version == "3.6") {
            auto head = symbols.find("interp_head");
            REQUIRE(head);
            CHECK(head->local); // only in .symtab
        } else {
            CHECK(symbols.find("_PyRuntime"));
        }
        if (version == "3.12" || version == "3.13")
            CHECK(symbols.section(".PyRuntime"));
        CHECK_FALSE(symbols.find("no_such_symbol_anywhere"));
        if (version == "3.12" || version == "3.13") {
            auto py_version = symbols.find("Py_Version");
            REQUIRE(py_version);
            auto bytes = symbols.bytes_at(py_version->address, 4);
            REQUIRE(bytes.size() == 4);
            std::uint32_t hex = 0;
            std::memcpy(&hex, bytes.data(), 4);
            CHECK((hex >> 16) == (version == "3.12" ? 0x030cu : 0x030du));
        }
    }
}

// Line-table decoders: hand-built tables for each format, then every instruction of real code
// objects compared with what each installed interpreter computes itself.

#include "child_process.hpp"
#include "interpreters.hpp"
#include "line_table.hpp"
#include "skips.hpp"
#include "synthetic_python.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace sampler::python;
using namespace sampler::testing;

TEST_CASE("lnotab: signed deltas (3.6-3.9) and unsigned (2.7)", "[python][lines]") {
    // addr +0 line +1 (line 11 from 0), addr +6 line +2 (13 from 6), addr +4 line -3 (10 from 10)
    std::vector<std::uint8_t> table{0, 1, 6, 2, 4, 0xfd};
    CHECK(lnotab_line(table, 10, 0, true) == 11);
    CHECK(lnotab_line(table, 10, 5, true) == 11);
    CHECK(lnotab_line(table, 10, 6, true) == 13);
    CHECK(lnotab_line(table, 10, 9, true) == 13);
    CHECK(lnotab_line(table, 10, 10, true) == 10);
    CHECK(lnotab_line(table, 10, 500, true) == 10);
    // 2.7 reads 0xfd as +253.
    CHECK(lnotab_line(table, 10, 10, false) == 266);
    CHECK(lnotab_line({}, 7, 3, true) == 7);
    // An odd trailing byte is ignored, not read past.
    CHECK(lnotab_line(std::vector<std::uint8_t>{2, 1, 9}, 1, 100, true) == 2);
}

TEST_CASE("3.10 linetable: ranges, no-line entries, zero-width entries", "[python][lines]") {
    // [0,4) line+1=2; [4,4) zero width line+5=7; [4,10) line+1=8; [10,12) no line; [12,14) line-2=6
    std::vector<std::uint8_t> table{4, 1, 0, 5, 6, 1, 2, 0x80, 2, 0xfe};
    CHECK(linetable_310_line(table, 1, 0) == 2);
    CHECK(linetable_310_line(table, 1, 3) == 2);
    CHECK(linetable_310_line(table, 1, 4) == 8);
    CHECK(linetable_310_line(table, 1, 9) == 8);
    CHECK_FALSE(linetable_310_line(table, 1, 10).has_value());
    CHECK(linetable_310_line(table, 1, 12) == 6);
    CHECK_FALSE(linetable_310_line(table, 1, 14).has_value());
    CHECK(line_for_offset(LineTableFormat::linetable_310, table, 1, -1) == 1); // not started
    CHECK(line_for_offset(LineTableFormat::linetable_310, table, 1, 10) == 0);
}

TEST_CASE("3.11+ location table: every entry form", "[python][lines]") {
    std::vector<std::uint8_t> table;
    auto append = [&](const std::vector<std::uint8_t>& entry) {
        table.insert(table.end(), entry.begin(), entry.end());
    };
    append(location_entry_long(2, 1));     // [0,2)   line 12
    append(location_entry_one_line(1, 3)); // [2,8)   line 13
    append({0x80 | (3 << 3) | 1, 0x12});   // [8,12)  short form code 3: same line 13
    append({0x80 | (13 << 3) | 0, 0x05});  // [12,14) no-column form, svarint 5 -> -2: line 11
    append({0x80 | (15 << 3) | 1});        // [14,18) no location
    append(location_entry_long(-300, 8));  // [18,34) line 11-300 < 1: no line reported
    append(location_entry_long(400, 2));   // [34,38) line 111
    CHECK(location_table_line(table, 10, 0) == 12);
    CHECK(location_table_line(table, 10, 2) == 13);
    CHECK(location_table_line(table, 10, 7) == 13);
    CHECK(location_table_line(table, 10, 8) == 13);
    CHECK(location_table_line(table, 10, 12) == 11);
    CHECK_FALSE(location_table_line(table, 10, 14).has_value());
    CHECK_FALSE(location_table_line(table, 10, 16).has_value());
    CHECK(line_for_offset(LineTableFormat::location_table, table, 10, 20) == 0);
    CHECK(location_table_line(table, 10, 34) == 111);
    CHECK_FALSE(location_table_line(table, 10, 38).has_value());
    // Truncated in the middle of a varint: no read past the end, no line.
    std::vector<std::uint8_t> cut{0x80 | (14 << 3), 0x40 | 1, 0x40};
    CHECK(location_table_line(cut, 5, 0).has_value());
    CHECK_FALSE(location_table_line(cut, 5, 2).has_value());
}

namespace {

std::vector<std::uint8_t> from_hex(const std::string& hex) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return bytes;
}

// Runs dump_line_tables.py under `interpreter` on a few sources and checks every offset.
void check_against_interpreter(const std::optional<Interpreter>& interpreter, const std::string& label) {
    if (!interpreter)
        skip_test("CPython " + label + " is not installed");
    const PythonLayout* layout = layout_for(label[0] - '0', std::stoi(label.substr(2)));
    REQUIRE(layout);
    const LineTableFormat format = layout->line_table;
    std::string fixtures = FIXTURE_DIR;
    RunResult result = run_command({interpreter->executable, fixtures + "/dump_line_tables.py",
                                    fixtures + "/known_stack.py", fixtures + "/dump_line_tables.py"},
                                   std::chrono::seconds(60));
    REQUIRE(result.exit_code == 0);
    std::istringstream in(result.out);
    std::string word;
    std::vector<std::uint8_t> table;
    int first_line = 0;
    std::size_t codes = 0, offsets = 0, mismatches = 0;
    while (in >> word) {
        if (word == "code") {
            std::string hex;
            in >> first_line;
            std::getline(in, hex);
            hex.erase(0, hex.find_first_not_of(' '));
            table = from_hex(hex);
            ++codes;
        } else if (word == "at") {
            int offset = 0, expected = 0;
            in >> offset >> expected;
            ++offsets;
            std::uint32_t line = line_for_offset(format, table, first_line, offset);
            if (line != static_cast<std::uint32_t>(expected) && ++mismatches <= 5)
                UNSCOPED_INFO("offset " << offset << ": decoded " << line << ", CPython says " << expected);
        }
    }
    INFO(label << ": " << codes << " code objects, " << offsets << " offsets");
    CHECK(codes > 10);
    CHECK(mismatches == 0);
}

} // namespace

TEST_CASE("line tables match each interpreter's own line numbers", "[python][lines][live]") {
    for (std::string version : {"2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}) {
        SECTION(version) {
            check_against_interpreter(find_pyenv_interpreter(version), version);
        }
    }
    SECTION("debian 3.11") {
        // Debian's 3.11 uses the 3.11 format: labelled so the format choice picks it.
        auto debian = find_debian_python311();
        if (!debian)
            skip_test("Debian's /usr/bin/python3.11 is not installed");
        debian->label = "3.11";
        check_against_interpreter(debian, "3.11");
    }
}

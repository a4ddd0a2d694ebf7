// Strings and bytes out of (synthetic) target memory: every PEP 393 kind, 2.7 byte strings,
// length limits, wrong types and unreadable payloads.

#include "object_reader.hpp"
#include "synthetic_python.hpp"
#include "text_encoding.hpp"

#include <catch2/catch.hpp>

using namespace sampler::python;
using namespace sampler::testing;

TEST_CASE("PEP 393 payloads decode to UTF-8", "[python][strings]") {
    CHECK(decode_pep393(std::vector<std::uint8_t>{'a', 0xe9, 0xff}, 1) == "a\xc3\xa9\xc3\xbf");
    // UCS-2: U+00F6 U+4E2D, little-endian
    CHECK(decode_pep393(std::vector<std::uint8_t>{0xf6, 0x00, 0x2d, 0x4e}, 2) == "\xc3\xb6\xe4\xb8\xad");
    // UCS-4: U+1F600, and an invalid U+110000 becomes U+FFFD
    CHECK(decode_pep393(std::vector<std::uint8_t>{0x00, 0xf6, 0x01, 0x00, 0x00, 0x00, 0x11, 0x00}, 4) ==
          "\xf0\x9f\x98\x80\xef\xbf\xbd");
    // A lone surrogate (possible in a Python str) is not valid UTF-8: U+FFFD.
    CHECK(decode_pep393(std::vector<std::uint8_t>{0x00, 0xd8}, 2) == "\xef\xbf\xbd");
    CHECK(decode_pep393(std::vector<std::uint8_t>{1, 2, 3}, 3).empty());
}

TEST_CASE("byte strings of unknown encoding stay valid UTF-8", "[python][strings]") {
    std::string utf8 = "gr\xc3\xb6\xc3\x9f"
                       "e";
    CHECK(utf8_or_latin1(std::vector<std::uint8_t>(utf8.begin(), utf8.end())) == utf8);
    CHECK(utf8_or_latin1(std::vector<std::uint8_t>{'a', 0xff}) == "a\xc3\xbf"); // latin-1
    CHECK(utf8_or_latin1(std::vector<std::uint8_t>{0xed, 0xa0, 0x80}) ==
          "\xc3\xad\xc2\xa0\xc2\x80"); // surrogate
}

namespace {

void check_strings(const PythonLayout& layout) {
    INFO("layout " << layout.name());
    SyntheticPython py(layout);
    ObjectReader objects(layout, py.target().types);
    auto& memory = py.memory();
    CHECK(objects.read_string(memory, py.str(std::string("hello"))) == "hello");
    CHECK(objects.read_string(memory, py.str(std::string())) == "");
    CHECK(objects.read_string(memory, py.str(U"gr\u00f6\u00dfe")) == "gr\xc3\xb6\xc3\x9f"
                                                                     "e");                     // latin-1 kind
    CHECK(objects.read_string(memory, py.str(U"\u4e2d\u6587")) == "\xe4\xb8\xad\xe6\x96\x87"); // UCS-2
    CHECK(objects.read_string(memory, py.str(U"x\U0001F600")) == "x\xf0\x9f\x98\x80");         // UCS-4
    // Long names are cut at max_string_chars characters.
    auto long_name = objects.read_string(memory, py.str(std::string(5000, 'n')));
    REQUIRE(long_name);
    CHECK(long_name->size() == max_string_chars);
    // Not a string, not readable, not aligned.
    std::uint64_t some_bytes = py.bytes({1, 2, 3});
    if (!layout.strings.py2_bytes)
        CHECK_FALSE(objects.read_string(memory, some_bytes));
    CHECK_FALSE(objects.read_string(memory, 0x1000));
    CHECK_FALSE(objects.read_string(memory, py.str(std::string("x")) + 4));
    CHECK(objects.read_bytes(memory, some_bytes, 16) == std::vector<std::uint8_t>{1, 2, 3});
    CHECK_FALSE(objects.read_bytes(memory, some_bytes, 2)); // over the caller's limit
}

} // namespace

TEST_CASE("str and bytes objects of every layout", "[python][strings]") {
    for (const PythonLayout* layout :
         {&layout_2_7(), &layout_3_6(), &layout_3_7(), &layout_3_8(), &layout_3_9(), &layout_3_10(),
          &layout_3_11(), &layout_3_12(), &layout_3_13()})
        check_strings(*layout);
}

TEST_CASE("a str whose length is garbage is refused without a huge allocation", "[python][strings]") {
    SyntheticPython py(layout_3_12());
    ObjectReader objects(py.layout(), py.target().types);
    std::uint64_t text = py.str(std::string("abc"));
    py.memory().put(text + 16, std::int64_t{1} << 60); // length: only max_string_chars are read
    auto cut = objects.read_string(py.memory(), text);
    CHECK((!cut || cut->size() <= max_string_chars));
    py.memory().put(text + 16, std::int64_t{-5});
    CHECK_FALSE(objects.read_string(py.memory(), text));
    py.memory().put(text + 16, std::int64_t{3});
    py.memory().put(text + 32, std::uint32_t{3 << 2}); // kind 3 does not exist
    CHECK_FALSE(objects.read_string(py.memory(), text));
}

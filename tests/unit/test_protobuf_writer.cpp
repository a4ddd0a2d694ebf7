#include <catch2/catch.hpp>

#include "protobuf_writer.hpp"

#include <cstdint>
#include <string>
#include <vector>

using namespace sampler::protobuf;

namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int value : values)
        out += static_cast<char>(value);
    return out;
}

std::string varint(std::uint64_t value) {
    std::string out;
    append_varint(out, value);
    return out;
}

} // namespace

TEST_CASE("varints are base 128, low group first", "[protobuf]") {
    CHECK(varint(0) == bytes({0x00}));
    CHECK(varint(1) == bytes({0x01}));
    CHECK(varint(127) == bytes({0x7F}));
    CHECK(varint(128) == bytes({0x80, 0x01}));
    CHECK(varint(150) == bytes({0x96, 0x01})); // the example in the protobuf encoding guide
    CHECK(varint(300) == bytes({0xAC, 0x02}));
    CHECK(varint(UINT64_MAX) == bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
}

TEST_CASE("fields carry their number and wire type in the key", "[protobuf]") {
    Writer writer;
    writer.varint_field(1, 150);
    CHECK(writer.bytes() == bytes({0x08, 0x96, 0x01}));

    Writer text;
    text.bytes_field(2, "testing");
    CHECK(text.bytes() == bytes({0x12, 0x07}) + "testing");

    Writer empty;
    empty.bytes_field(6, "");
    CHECK(empty.bytes() == bytes({0x32, 0x00}));

    // Field numbers above 15 need a two-byte key.
    Writer high;
    high.varint_field(16, 1);
    CHECK(high.bytes() == bytes({0x80, 0x01, 0x01}));
}

TEST_CASE("negative int64 values are ten-byte two's complement varints", "[protobuf]") {
    Writer writer;
    writer.signed_field(1, -1);
    CHECK(writer.bytes() == bytes({0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
}

TEST_CASE("nested messages and packed repeated fields are length-delimited", "[protobuf]") {
    Writer inner;
    inner.varint_field(1, 150);
    Writer outer;
    outer.message_field(3, inner);
    CHECK(outer.bytes() == bytes({0x1A, 0x03, 0x08, 0x96, 0x01}));

    // The packed example of the encoding guide: field 4, values 3, 270, 86942.
    const std::vector<std::uint64_t> values{3, 270, 86942};
    Writer packed;
    packed.packed_varints(4, values);
    CHECK(packed.bytes() == bytes({0x22, 0x06, 0x03, 0x8E, 0x02, 0x9E, 0xA7, 0x05}));

    Writer none;
    none.packed_varints(1, {});
    CHECK(none.bytes() == bytes({0x0A, 0x00}));
}

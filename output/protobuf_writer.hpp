#pragma once
// A minimal protocol buffers encoder: just the wire types profile.proto uses (varint and
// length-delimited), written by hand so sampler needs no protobuf library or code generator.
// Fields are appended in the order called; nested messages are built in their own writer and
// appended as bytes.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sampler::protobuf {

class Writer {
  public:
    // Wire type 0. Zero is still written: proto3 readers treat it as the default anyway, and
    // callers that want to omit defaults simply do not call.
    void varint_field(std::uint32_t field, std::uint64_t value);
    void signed_field(std::uint32_t field, std::int64_t value); // int64: two's complement varint
    // Wire type 2: bytes, strings and nested messages.
    void bytes_field(std::uint32_t field, std::string_view bytes);
    void message_field(std::uint32_t field, const Writer& message) { bytes_field(field, message.bytes()); }
    // A packed repeated varint field: one length-delimited record holding the varints.
    void packed_varints(std::uint32_t field, std::span<const std::uint64_t> values);

    const std::string& bytes() const { return bytes_; }

  private:
    std::string bytes_;
};

// Base-128, least significant group first, high bit set on all but the last byte.
void append_varint(std::string& out, std::uint64_t value);

} // namespace sampler::protobuf

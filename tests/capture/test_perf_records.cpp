// Decoding perf ring records, on records built here byte by byte: no kernel, no live process.

#include "perf_records.hpp"

#include <asm/perf_regs.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

namespace sampler {
namespace {

class RecordBuilder {
  public:
    explicit RecordBuilder(std::uint32_t type, std::uint16_t misc = 0) {
        perf_event_header header{type, misc, 0};
        bytes_.resize(sizeof header);
        std::memcpy(bytes_.data(), &header, sizeof header);
    }
    template <typename T> RecordBuilder& append(const T& value) {
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(&value);
        bytes_.insert(bytes_.end(), bytes, bytes + sizeof value);
        return *this;
    }
    RecordBuilder& append_bytes(const std::vector<std::uint8_t>& bytes) {
        bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
        return *this;
    }
    // The header's size says the record ends `shorten` bytes before what was appended.
    const perf_event_header& finish(std::size_t shorten = 0) {
        while (bytes_.size() % 8)
            bytes_.push_back(0);
        std::uint16_t size = static_cast<std::uint16_t>(bytes_.size() - shorten);
        std::memcpy(bytes_.data() + offsetof(perf_event_header, size), &size, sizeof size);
        storage_.assign((bytes_.size() + 7) / 8, 0);
        std::memcpy(storage_.data(), bytes_.data(), bytes_.size());
        return *reinterpret_cast<const perf_event_header*>(storage_.data());
    }

  private:
    std::vector<std::uint8_t> bytes_;
    std::vector<std::uint64_t> storage_; // 8-byte aligned, as the ring is
};

RecordBuilder sample_with_stack(const std::vector<std::uint8_t>& stack, std::uint64_t dynamic_size) {
    RecordBuilder record(PERF_RECORD_SAMPLE);
    record.append(std::uint32_t{100}).append(std::uint32_t{101}).append(std::uint64_t{5'000'000'000});
    record.append(std::uint64_t{31}); // stream id
    record.append(std::uint64_t{PERF_SAMPLE_REGS_ABI_64});
    // Registers in ascending PERF_REG_X86_* order: value = 1000 + register number.
    for (int number = 0; number < 24; ++number)
        if (perf_user_register_mask() & (std::uint64_t{1} << number))
            record.append(std::uint64_t(1000 + number));
    record.append(std::uint64_t{stack.size()}).append_bytes(stack).append(dynamic_size);
    return record;
}

TEST_CASE("perf records: a sample's registers land in their user_regs_struct fields") {
    std::vector<std::uint8_t> stack(64);
    for (std::size_t i = 0; i < stack.size(); ++i)
        stack[i] = static_cast<std::uint8_t>(i);
    RecordBuilder record = sample_with_stack(stack, 40);
    RawSample sample;
    std::uint64_t stream = 0;
    REQUIRE(decode_perf_sample(record.finish(), PerfSampleFormat{true}, sample, stream));
    CHECK(sample.pid == 100);
    CHECK(sample.tid == 101);
    CHECK(sample.snapshot.tid == 101);
    CHECK(sample.time_ns == 5'000'000'000u);
    CHECK(stream == 31);
    REQUIRE(sample.has_registers);
    CHECK(sample.snapshot.registers.rax == 1000 + PERF_REG_X86_AX);
    CHECK(sample.snapshot.registers.rbx == 1000 + PERF_REG_X86_BX);
    CHECK(sample.snapshot.registers.rbp == 1000 + PERF_REG_X86_BP);
    CHECK(sample.snapshot.registers.rsp == 1000 + PERF_REG_X86_SP);
    CHECK(sample.snapshot.registers.rip == 1000 + PERF_REG_X86_IP);
    CHECK(sample.snapshot.registers.r8 == 1000 + PERF_REG_X86_R8);
    CHECK(sample.snapshot.registers.r15 == 1000 + PERF_REG_X86_R15);
    CHECK(sample.snapshot.stack_start == sample.snapshot.registers.rsp);
    // Only dyn_size bytes are real: the rest of the reserved copy is not the thread's stack.
    REQUIRE(sample.stack_size == 40);
    CHECK(sample.stack_bytes[39] == 39);
    sample.take_stack(16); // what the stack's mapping allows, at most
    REQUIRE(sample.snapshot.stack.size() == 16);
    CHECK(sample.snapshot.stack[15] == 15);
}

TEST_CASE("perf records: a short or lying record is rejected, never read past") {
    std::vector<std::uint8_t> stack(64, 0xab);
    RawSample sample;
    std::uint64_t stream = 0;
    SECTION("cut inside the registers") {
        RecordBuilder record = sample_with_stack(stack, 64);
        CHECK_FALSE(
            decode_perf_sample(record.finish(64 + 16 + 8 * 10), PerfSampleFormat{true}, sample, stream));
    }
    SECTION("cut inside the stack bytes") {
        RecordBuilder record = sample_with_stack(stack, 64);
        CHECK_FALSE(decode_perf_sample(record.finish(24), PerfSampleFormat{true}, sample, stream));
    }
    SECTION("a dyn_size larger than the copy uses the copy's size") {
        RecordBuilder record = sample_with_stack(stack, 1 << 20);
        REQUIRE(decode_perf_sample(record.finish(), PerfSampleFormat{true}, sample, stream));
        CHECK(sample.stack_size == 64);
    }
    SECTION("only a header") {
        RecordBuilder record(PERF_RECORD_SAMPLE);
        CHECK_FALSE(decode_perf_sample(record.finish(), PerfSampleFormat{false}, sample, stream));
    }
}

TEST_CASE("perf records: a sample without user registers (ABI none) has no native part") {
    RecordBuilder record(PERF_RECORD_SAMPLE);
    record.append(std::uint32_t{7})
        .append(std::uint32_t{8})
        .append(std::uint64_t{9})
        .append(std::uint64_t{32});
    record.append(std::uint64_t{PERF_SAMPLE_REGS_ABI_NONE}).append(std::uint64_t{0});
    RawSample sample;
    std::uint64_t stream = 0;
    REQUIRE(decode_perf_sample(record.finish(), PerfSampleFormat{true}, sample, stream));
    CHECK(sample.tid == 8);
    CHECK_FALSE(sample.has_registers);
    CHECK(sample.stack_size == 0);
}

TEST_CASE("perf records: Python-only samples carry thread and time alone") {
    RecordBuilder record(PERF_RECORD_SAMPLE);
    record.append(std::uint32_t{7})
        .append(std::uint32_t{8})
        .append(std::uint64_t{9})
        .append(std::uint64_t{32});
    RawSample sample;
    std::uint64_t stream = 0;
    REQUIRE(decode_perf_sample(record.finish(), PerfSampleFormat{false}, sample, stream));
    CHECK(sample.pid == 7);
    CHECK(sample.tid == 8);
    CHECK(sample.time_ns == 9);
    CHECK(stream == 32);
    CHECK_FALSE(sample.has_registers);
}

TEST_CASE("perf records: fork, exit, comm and lost records") {
    RecordBuilder fork(PERF_RECORD_FORK);
    fork.append(std::uint32_t{10})
        .append(std::uint32_t{10})
        .append(std::uint32_t{12})
        .append(std::uint32_t{10});
    fork.append(std::uint64_t{77});
    PerfTaskRecord task;
    REQUIRE(decode_perf_task(fork.finish(), task));
    CHECK(task.pid == 10);
    CHECK(task.tid == 12);
    CHECK(task.ptid == 10);
    CHECK(task.time_ns == 77);

    RecordBuilder comm(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC);
    comm.append(std::uint32_t{10})
        .append(std::uint32_t{10})
        .append(std::uint64_t{0x6e6f68747970}); // "python"
    PerfPidTid ids;
    REQUIRE(decode_perf_pid_tid(comm.finish(), ids));
    CHECK(ids.pid == 10);

    RecordBuilder lost(PERF_RECORD_LOST);
    lost.append(std::uint64_t{1}).append(std::uint64_t{42});
    std::uint64_t dropped = 0;
    REQUIRE(decode_perf_lost(lost.finish(), dropped));
    CHECK(dropped == 42);

    RecordBuilder switch_out(PERF_RECORD_SWITCH,
                             PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT);
    switch_out.append(std::uint32_t{10})
        .append(std::uint32_t{12})
        .append(std::uint64_t{88})
        .append(std::uint64_t{1});
    PerfSwitchRecord switched;
    REQUIRE(decode_perf_switch(switch_out.finish(), switched));
    CHECK(switched.tid == 12);
    CHECK(switched.time_ns == 88);
    CHECK(switched.out);
    CHECK(switched.preempted);
    RecordBuilder switch_in(PERF_RECORD_SWITCH);
    switch_in.append(std::uint32_t{10})
        .append(std::uint32_t{12})
        .append(std::uint64_t{89})
        .append(std::uint64_t{1});
    REQUIRE(decode_perf_switch(switch_in.finish(), switched));
    CHECK_FALSE(switched.out);

    RecordBuilder cut(PERF_RECORD_EXIT);
    cut.append(std::uint32_t{1});
    CHECK_FALSE(decode_perf_task(cut.finish(), task));
}

TEST_CASE("perf records: a side-band record's time comes from its sample_id trailer") {
    // An exec's comm record: pid, tid, the name (8-byte padded), then pid, tid, time, stream id.
    RecordBuilder comm(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC);
    comm.append(std::uint32_t{10}).append(std::uint32_t{10}).append(std::uint64_t{0x6e6f68747970});
    comm.append(std::uint32_t{10})
        .append(std::uint32_t{10})
        .append(std::uint64_t{123456})
        .append(std::uint64_t{7});
    std::uint64_t time_ns = 0;
    REQUIRE(decode_sample_id_time(comm.finish(), time_ns));
    CHECK(time_ns == 123456);
    // Too short for a trailer: refused, nothing read before the record.
    RecordBuilder bare(PERF_RECORD_COMM);
    bare.append(std::uint64_t{1});
    CHECK_FALSE(decode_sample_id_time(bare.finish(), time_ns));
}

} // namespace
} // namespace sampler

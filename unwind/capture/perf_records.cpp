#include "perf_records.hpp"

#include <asm/perf_regs.h>
#include <cstring>

namespace sampler {
namespace {

// A bounded cursor over one record's body.
class RecordReader {
  public:
    explicit RecordReader(const perf_event_header& header)
        : at_(reinterpret_cast<const std::uint8_t*>(&header) + sizeof header),
          end_(reinterpret_cast<const std::uint8_t*>(&header) + header.size) {}

    template <typename T> bool read(T& out) {
        if (std::size_t(end_ - at_) < sizeof out)
            return false;
        std::memcpy(&out, at_, sizeof out);
        at_ += sizeof out;
        return true;
    }
    const std::uint8_t* take(std::size_t bytes) {
        if (std::size_t(end_ - at_) < bytes)
            return nullptr;
        const std::uint8_t* start = at_;
        at_ += bytes;
        return start;
    }

  private:
    const std::uint8_t* at_;
    const std::uint8_t* end_;
};

// The registers in the order the kernel writes them (ascending PERF_REG_X86_* number), and
// where each goes in user_regs_struct.
struct RegisterSlot {
    int perf_number;
    unsigned long long user_regs_struct::*field;
};
constexpr RegisterSlot register_slots[] = {
    {PERF_REG_X86_AX, &user_regs_struct::rax},  {PERF_REG_X86_BX, &user_regs_struct::rbx},
    {PERF_REG_X86_CX, &user_regs_struct::rcx},  {PERF_REG_X86_DX, &user_regs_struct::rdx},
    {PERF_REG_X86_SI, &user_regs_struct::rsi},  {PERF_REG_X86_DI, &user_regs_struct::rdi},
    {PERF_REG_X86_BP, &user_regs_struct::rbp},  {PERF_REG_X86_SP, &user_regs_struct::rsp},
    {PERF_REG_X86_IP, &user_regs_struct::rip},  {PERF_REG_X86_FLAGS, &user_regs_struct::eflags},
    {PERF_REG_X86_CS, &user_regs_struct::cs},   {PERF_REG_X86_SS, &user_regs_struct::ss},
    {PERF_REG_X86_R8, &user_regs_struct::r8},   {PERF_REG_X86_R9, &user_regs_struct::r9},
    {PERF_REG_X86_R10, &user_regs_struct::r10}, {PERF_REG_X86_R11, &user_regs_struct::r11},
    {PERF_REG_X86_R12, &user_regs_struct::r12}, {PERF_REG_X86_R13, &user_regs_struct::r13},
    {PERF_REG_X86_R14, &user_regs_struct::r14}, {PERF_REG_X86_R15, &user_regs_struct::r15},
};
constexpr std::size_t register_count = sizeof register_slots / sizeof register_slots[0];

} // namespace

std::uint64_t perf_user_register_mask() {
    std::uint64_t mask = 0;
    for (const RegisterSlot& slot : register_slots)
        mask |= std::uint64_t{1} << slot.perf_number;
    return mask;
}

bool decode_perf_sample(const perf_event_header& header, const PerfSampleFormat& format, RawSample& out,
                        std::uint64_t& stream_id) {
    RecordReader reader(header);
    std::uint32_t pid = 0, tid = 0;
    if (!reader.read(pid) || !reader.read(tid) || !reader.read(out.time_ns) || !reader.read(stream_id))
        return false;
    out.pid = static_cast<int>(pid);
    out.tid = static_cast<int>(tid);
    out.snapshot.tid = out.tid;
    out.has_registers = false;
    out.stack_bytes = nullptr;
    out.stack_size = 0;
    out.snapshot.stack.clear();
    out.snapshot.stack_start = 0;
    out.snapshot.pause_nanoseconds = 0;
    if (!format.registers_and_stack)
        return true;
    std::uint64_t abi = 0;
    if (!reader.read(abi))
        return false;
    if (abi != PERF_SAMPLE_REGS_ABI_NONE) {
        std::uint64_t values[register_count];
        for (std::uint64_t& value : values)
            if (!reader.read(value))
                return false;
        out.snapshot.registers = user_regs_struct{};
        for (std::size_t i = 0; i < register_count; ++i)
            out.snapshot.registers.*register_slots[i].field = values[i];
    }
    std::uint64_t stack_size = 0;
    if (!reader.read(stack_size))
        return false;
    if (stack_size > 0) {
        const std::uint8_t* bytes = reader.take(stack_size);
        std::uint64_t dynamic_size = 0;
        if (!bytes || !reader.read(dynamic_size))
            return false;
        // dyn_size: how much of the requested copy the kernel could actually fill.
        out.stack_bytes = bytes;
        out.stack_size = static_cast<std::size_t>(std::min(dynamic_size, stack_size));
    }
    out.has_registers = abi != PERF_SAMPLE_REGS_ABI_NONE;
    out.snapshot.stack_start = out.snapshot.registers.rsp;
    return true;
}

bool decode_perf_task(const perf_event_header& header, PerfTaskRecord& out) {
    RecordReader reader(header);
    std::uint32_t pid = 0, ppid = 0, tid = 0, ptid = 0;
    if (!reader.read(pid) || !reader.read(ppid) || !reader.read(tid) || !reader.read(ptid) ||
        !reader.read(out.time_ns))
        return false;
    out.pid = static_cast<int>(pid);
    out.ppid = static_cast<int>(ppid);
    out.tid = static_cast<int>(tid);
    out.ptid = static_cast<int>(ptid);
    return true;
}

bool decode_perf_pid_tid(const perf_event_header& header, PerfPidTid& out) {
    RecordReader reader(header);
    std::uint32_t pid = 0, tid = 0;
    if (!reader.read(pid) || !reader.read(tid))
        return false;
    out.pid = static_cast<int>(pid);
    out.tid = static_cast<int>(tid);
    return true;
}

bool decode_sample_id_time(const perf_event_header& header, std::uint64_t& time_ns) {
    constexpr std::size_t trailer = 24; // pid, tid (4 + 4), time (8), stream id (8)
    if (header.size < sizeof header + trailer)
        return false;
    std::memcpy(&time_ns, reinterpret_cast<const std::uint8_t*>(&header) + header.size - 16, sizeof time_ns);
    return true;
}

bool decode_record_time(const perf_event_header& header, std::uint64_t& time_ns) {
    if (header.type != PERF_RECORD_SAMPLE)
        return decode_sample_id_time(header, time_ns);
    RecordReader reader(header);
    std::uint64_t pid_tid = 0; // TID comes first, then TIME
    return reader.read(pid_tid) && reader.read(time_ns);
}

bool decode_perf_switch(const perf_event_header& header, PerfSwitchRecord& out) {
    RecordReader reader(header);
    std::uint32_t pid = 0, tid = 0;
    if (!reader.read(pid) || !reader.read(tid) || !reader.read(out.time_ns))
        return false;
    out.pid = static_cast<int>(pid);
    out.tid = static_cast<int>(tid);
    out.out = header.misc & PERF_RECORD_MISC_SWITCH_OUT;
    out.preempted = header.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT;
    return true;
}

bool decode_perf_lost(const perf_event_header& header, std::uint64_t& lost) {
    RecordReader reader(header);
    std::uint64_t id = 0;
    return reader.read(id) && reader.read(lost);
}

} // namespace sampler

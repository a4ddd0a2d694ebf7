#include "cfi_fallback.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <initializer_list>
#include <libelf.h>
#include <unistd.h>
#include <vector>

namespace sampler {

// Both tables of a module: .debug_frame (through its DWARF) and .eh_frame (through the ELF).
struct CfiFallback::ModuleCfi {
    int fd = -1;
    Elf* elf = nullptr;
    Dwarf* dwarf = nullptr;
    Dwarf_CFI* debug_frame = nullptr; // owned by `dwarf`
    Dwarf_CFI* eh_frame = nullptr;    // released with dwarf_cfi_end

    ~ModuleCfi() {
        if (eh_frame)
            dwarf_cfi_end(eh_frame);
        if (dwarf)
            dwarf_end(dwarf);
        if (elf)
            elf_end(elf);
        if (fd >= 0)
            ::close(fd);
    }
};

namespace {

// The arithmetic, bitwise and comparison operators CFI expressions use (the PLT's CFA is
// computed from the address with `and`, `ge` and `shl`), on two popped values: `a` was below
// `b` on the stack. Comparisons are signed, as DWARF's generic type is. nullopt: another op.
std::optional<std::uint64_t> binary_operation(unsigned atom, std::uint64_t a, std::uint64_t b) {
    const auto sa = static_cast<std::int64_t>(a), sb = static_cast<std::int64_t>(b);
    switch (atom) {
    case DW_OP_plus:
        return a + b;
    case DW_OP_minus:
        return a - b;
    case DW_OP_mul:
        return a * b;
    case DW_OP_and:
        return a & b;
    case DW_OP_or:
        return a | b;
    case DW_OP_xor:
        return a ^ b;
    case DW_OP_shl:
        return b < 64 ? a << b : 0;
    case DW_OP_shr:
        return b < 64 ? a >> b : 0;
    case DW_OP_ge:
        return sa >= sb;
    case DW_OP_gt:
        return sa > sb;
    case DW_OP_le:
        return sa <= sb;
    case DW_OP_lt:
        return sa < sb;
    case DW_OP_eq:
        return a == b;
    case DW_OP_ne:
        return a != b;
    default:
        return std::nullopt;
    }
}

bool is_constant_op(unsigned atom) {
    switch (atom) {
    case DW_OP_const1u:
    case DW_OP_const2u:
    case DW_OP_const4u:
    case DW_OP_const8u:
    case DW_OP_constu:
    case DW_OP_const1s:
    case DW_OP_const2s:
    case DW_OP_const4s:
    case DW_OP_const8s:
    case DW_OP_consts:
        return true;
    default:
        return false;
    }
}

// Evaluates the small DWARF expressions CFI uses. Returns the value computed; `is_value` tells
// whether it is the register's value (DW_OP_stack_value, DW_OP_regN) or the address holding it.
struct Evaluation {
    std::uint64_t result = 0;
    bool is_value = false;
};

std::optional<Evaluation> evaluate(const Dwarf_Op* ops, std::size_t count, const DwarfRegisters& regs,
                                   std::optional<std::uint64_t> cfa, const WordReader& read) {
    std::vector<std::uint64_t> stack;
    Evaluation evaluation;
    auto pop = [&](std::uint64_t& out) {
        if (stack.empty())
            return false;
        out = stack.back();
        stack.pop_back();
        return true;
    };
    auto register_value = [&](std::uint64_t number, std::uint64_t& out) {
        if (number >= DwarfRegisters::count || !regs.known[number])
            return false;
        out = regs.value[number];
        return true;
    };
    for (std::size_t i = 0; i < count && i < 64; ++i) {
        const Dwarf_Op& op = ops[i];
        std::uint64_t a = 0, b = 0;
        if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
            if (!register_value(op.atom - DW_OP_breg0, a))
                return std::nullopt;
            stack.push_back(a + op.number);
        } else if (op.atom >= DW_OP_reg0 && op.atom <= DW_OP_reg31) {
            if (!register_value(op.atom - DW_OP_reg0, a))
                return std::nullopt;
            stack.push_back(a);
            evaluation.is_value = true;
        } else if (op.atom >= DW_OP_lit0 && op.atom <= DW_OP_lit31) {
            stack.push_back(op.atom - DW_OP_lit0);
        } else {
            switch (op.atom) {
            case DW_OP_bregx:
                if (!register_value(op.number, a))
                    return std::nullopt;
                stack.push_back(a + op.number2);
                break;
            case DW_OP_call_frame_cfa:
                if (!cfa)
                    return std::nullopt;
                stack.push_back(*cfa);
                break;
            case DW_OP_plus_uconst:
                if (!pop(a))
                    return std::nullopt;
                stack.push_back(a + op.number);
                break;
            case DW_OP_deref:
                if (!pop(a) || !read(a, b))
                    return std::nullopt;
                stack.push_back(b);
                break;
            case DW_OP_stack_value:
                evaluation.is_value = true;
                break;
            default:
                if (is_constant_op(op.atom)) {
                    stack.push_back(op.number);
                    break;
                }
                if (!pop(b) || !pop(a))
                    return std::nullopt;
                if (auto value = binary_operation(op.atom, a, b)) {
                    stack.push_back(*value);
                    break;
                }
                return std::nullopt; // anything rarer: give up on this frame
            }
        }
    }
    if (!pop(evaluation.result))
        return std::nullopt;
    return evaluation;
}

} // namespace

CfiFallback::CfiFallback() {
    elf_version(EV_CURRENT);
}
CfiFallback::~CfiFallback() = default;

void CfiFallback::keep_only(const std::vector<Module>& modules) {
    std::erase_if(modules_, [&](const auto& entry) {
        return std::ranges::none_of(modules,
                                    [&](const Module& module) { return module.open_path == entry.first; });
    });
}

CfiFallback::ModuleCfi* CfiFallback::cfi_for(const Module& module) {
    auto found = modules_.find(module.open_path);
    if (found != modules_.end())
        return found->second.get();
    auto cfi = std::make_unique<ModuleCfi>();
    cfi->fd = ::open(module.open_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (cfi->fd >= 0)
        cfi->elf = elf_begin(cfi->fd, ELF_C_READ_MMAP, nullptr);
    if (cfi->elf) {
        cfi->dwarf = dwarf_begin_elf(cfi->elf, DWARF_C_READ, nullptr);
        if (cfi->dwarf)
            cfi->debug_frame = dwarf_getcfi(cfi->dwarf);
        cfi->eh_frame = dwarf_getcfi_elf(cfi->elf);
    }
    return modules_.emplace(module.open_path, std::move(cfi)).first->second.get();
}

namespace {

constexpr int dwarf_rbp = 6;
constexpr int dwarf_rsp = 7;

// An "offset(N)" location from dwarf_frame_register: [call_frame_cfa] or [call_frame_cfa,
// plus_uconst N], never a value (stack_value).
bool cfa_offset_location(const Dwarf_Op* ops, std::size_t count, std::int32_t& offset) {
    if (count == 0 || !ops || ops[0].atom != DW_OP_call_frame_cfa)
        return false;
    if (count == 1) {
        offset = 0;
        return true;
    }
    if (count != 2 || ops[1].atom != DW_OP_plus_uconst)
        return false;
    auto value = static_cast<std::int64_t>(ops[1].number);
    if (value < INT32_MIN || value > INT32_MAX)
        return false;
    offset = static_cast<std::int32_t>(value);
    return true;
}

// A CFA expression that comes to the stack pointer plus an amount computed from constants and
// the frame's own address `pc` alone: the PLT's (rsp + 8, and 8 more once the lazy-binding
// stub has pushed, which the position of `pc` in its 16-byte entry tells). That amount, or
// nullopt for any other expression. The stack pointer is kept symbolic: only `rsp + c` may be
// added to or subtracted from; any other use of it (a realignment's `and`) is not compact.
std::optional<std::int64_t> stack_pointer_offset(const Dwarf_Op* ops, std::size_t count, std::uint64_t pc) {
    struct Term {
        std::uint64_t constant = 0;
        bool plus_stack_pointer = false;
    };
    std::vector<Term> stack;
    for (std::size_t i = 0; i < count; ++i) {
        const Dwarf_Op& op = ops[i];
        if (i >= 64 || stack.size() > 64)
            return std::nullopt;
        if (op.atom == DW_OP_breg0 + dwarf_rsp) {
            stack.push_back({op.number, true});
        } else if (op.atom == DW_OP_breg0 + DwarfRegisters::return_address) {
            stack.push_back({pc + op.number, false});
        } else if (op.atom >= DW_OP_lit0 && op.atom <= DW_OP_lit31) {
            stack.push_back({std::uint64_t{op.atom} - DW_OP_lit0, false});
        } else if (is_constant_op(op.atom)) {
            stack.push_back({op.number, false});
        } else if (op.atom == DW_OP_plus_uconst) {
            if (stack.empty())
                return std::nullopt;
            stack.back().constant += op.number;
        } else {
            if (stack.size() < 2)
                return std::nullopt;
            const Term b = stack.back();
            stack.pop_back();
            const Term a = stack.back();
            stack.pop_back();
            const bool linear = (op.atom == DW_OP_plus && !(a.plus_stack_pointer && b.plus_stack_pointer)) ||
                                (op.atom == DW_OP_minus && !b.plus_stack_pointer);
            if (!linear && (a.plus_stack_pointer || b.plus_stack_pointer))
                return std::nullopt;
            auto value = binary_operation(op.atom, a.constant, b.constant);
            if (!value)
                return std::nullopt;
            stack.push_back({*value, a.plus_stack_pointer || b.plus_stack_pointer});
        }
    }
    if (stack.size() != 1 || !stack.back().plus_stack_pointer)
        return std::nullopt;
    return static_cast<std::int64_t>(stack.back().constant);
}

} // namespace

namespace {

using OwnedFrame = std::unique_ptr<Dwarf_Frame, decltype(&std::free)>;

// The CFI frame state at `pc` from the first of `tables` that describes it; null when none does.
OwnedFrame frame_at(std::initializer_list<Dwarf_CFI*> tables, const Module& module, std::uint64_t pc,
                    bool is_return_address) {
    Dwarf_Addr lookup = pc - module.bias - (is_return_address ? 1 : 0);
    for (Dwarf_CFI* table : tables) {
        Dwarf_Frame* frame = nullptr;
        if (table && dwarf_cfi_addrframe(table, lookup, &frame) == 0)
            return OwnedFrame(frame, &std::free);
    }
    return OwnedFrame(nullptr, &std::free);
}

} // namespace

CompactFrameRule CfiFallback::compact_rule(const Module& module, std::uint64_t pc, bool is_return_address) {
    CompactFrameRule rule;
    ModuleCfi* cfi = cfi_for(module);
    // .eh_frame first: it is what the compiler emits for unwinding, and what libunwind reads.
    OwnedFrame owned = frame_at({cfi->eh_frame, cfi->debug_frame}, module, pc, is_return_address);
    Dwarf_Frame* frame = owned.get();
    if (!frame)
        return rule;

    Dwarf_Op* ops = nullptr;
    std::size_t count = 0;
    if (dwarf_frame_cfa(frame, &ops, &count) != 0 || count == 0)
        return rule;
    int cfa_register = -1;
    std::int64_t cfa_offset = 0;
    if (count > 1) {
        if (auto offset = stack_pointer_offset(ops, count, pc)) {
            cfa_register = dwarf_rsp;
            cfa_offset = *offset;
        }
    } else if (ops[0].atom == DW_OP_bregx) {
        cfa_register = static_cast<int>(ops[0].number);
        cfa_offset = static_cast<std::int64_t>(ops[0].number2);
    } else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
        cfa_register = ops[0].atom - DW_OP_breg0;
        cfa_offset = static_cast<std::int64_t>(ops[0].number);
    }
    if ((cfa_register != dwarf_rsp && cfa_register != dwarf_rbp) || cfa_offset < INT32_MIN ||
        cfa_offset > INT32_MAX)
        return rule;
    rule.cfa_from_frame_pointer = cfa_register == dwarf_rbp;
    rule.cfa_offset = static_cast<std::int32_t>(cfa_offset);

    Dwarf_Op ops_mem[3];
    if (dwarf_frame_register(frame, DwarfRegisters::return_address, ops_mem, &ops, &count) != 0)
        return rule;
    if (count == 0) {
        if (ops != nullptr)
            rule.kind = CompactFrameRule::Kind::outermost; // undefined: nothing called this frame
        return rule;
    }
    if (!cfa_offset_location(ops, count, rule.return_address_offset))
        return rule;

    if (dwarf_frame_register(frame, dwarf_rbp, ops_mem, &ops, &count) != 0)
        return rule;
    if (count == 0)
        rule.frame_pointer =
            ops == nullptr ? CompactFrameRule::FramePointer::unchanged : CompactFrameRule::FramePointer::lost;
    else if (cfa_offset_location(ops, count, rule.frame_pointer_offset))
        rule.frame_pointer = CompactFrameRule::FramePointer::saved;
    else
        return rule;
    rule.kind = CompactFrameRule::Kind::simple;
    return rule;
}

std::optional<DwarfRegisters> CfiFallback::step(const Module& module, const DwarfRegisters& current,
                                                bool is_return_address, const WordReader& read) {
    if (!current.known[DwarfRegisters::return_address])
        return std::nullopt;
    std::uint64_t pc = current.value[DwarfRegisters::return_address];
    ModuleCfi* cfi = cfi_for(module);
    OwnedFrame owned = frame_at({cfi->debug_frame, cfi->eh_frame}, module, pc, is_return_address);
    Dwarf_Frame* frame = owned.get();
    if (!frame)
        return std::nullopt;

    Dwarf_Op* ops = nullptr;
    std::size_t count = 0;
    if (dwarf_frame_cfa(frame, &ops, &count) != 0 || count == 0)
        return std::nullopt;
    auto cfa = evaluate(ops, count, current, std::nullopt, read);
    if (!cfa)
        return std::nullopt;

    DwarfRegisters caller;
    caller.set(DwarfRegisters::sp, cfa->result); // x86-64: the caller's stack pointer is the CFA
    for (int number = 0; number < DwarfRegisters::count; ++number) {
        if (number == DwarfRegisters::sp)
            continue;
        Dwarf_Op ops_mem[3];
        if (dwarf_frame_register(frame, number, ops_mem, &ops, &count) != 0)
            continue;
        if (count == 0) {
            // Null ops: "same value" (the callee kept it); ops_mem: undefined (clobbered).
            if (ops == nullptr && number != DwarfRegisters::return_address && current.known[number])
                caller.set(number, current.value[number]);
            continue;
        }
        auto location = evaluate(ops, count, current, cfa->result, read);
        if (!location)
            continue;
        std::uint64_t value = location->result;
        if (!location->is_value && !read(location->result, value))
            continue;
        caller.set(number, value);
    }
    if (!caller.known[DwarfRegisters::return_address])
        return std::nullopt; // the outermost frame
    return caller;
}

} // namespace sampler

#include "remote_unwinder.hpp"

#include "sampler/direct_mapped_cache.hpp"

#include "cfi_fallback.hpp"
#include "eh_frame_hdr.hpp"
#include "sampler/error.hpp"

#include <cstring>
#include <libunwind.h>
#include <optional>
#include <unordered_map>

extern "C" int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t, unw_word_t, unw_dyn_info_t*,
                                                  unw_proc_info_t*, int, void*);

namespace sampler {
namespace {

struct UnwindContext {
    const ThreadSnapshot* snapshot;
    const ModuleMap* modules;
    user_regs_struct registers;    // of the frame the cursor was (re)started at
    std::uint64_t no_table_ip = 0; // the last address libunwind found no unwind table for
};

UnwindContext& context_of(void* arg) {
    return *static_cast<UnwindContext*>(arg);
}

int find_proc_info(unw_addr_space_t space, unw_word_t ip, unw_proc_info_t* info, int need_unwind_info,
                   void* arg) {
    UnwindContext& context = context_of(arg);
    const Module* module = context.modules->module_at(ip);
    if (!module)
        return -UNW_ENOINFO;
    auto table = locate_eh_frame_table(*module);
    if (!table) {
        context.no_table_ip = ip;
        return -UNW_ENOINFO;
    }
    unw_dyn_info_t dyn{};
    dyn.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    dyn.start_ip = module->start;
    dyn.end_ip = module->end;
    dyn.u.rti.segbase = table->header_address;
    dyn.u.rti.table_data = table->table_address;
    dyn.u.rti.table_len = table->entry_count * 8 / sizeof(unw_word_t);
    int found = _Ux86_64_dwarf_search_unwind_table(space, ip, &dyn, info, need_unwind_info, arg);
    if (found == -UNW_ENOINFO)
        context.no_table_ip = ip;
    return found;
}

void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {
    // libunwind frees table-format unwind info itself; nothing of ours to release.
}

int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) {
    return -UNW_ENOINFO;
}

bool read_word(const UnwindContext& context, std::uint64_t address, std::uint64_t& value) {
    const ThreadSnapshot& snapshot = *context.snapshot;
    if (address >= snapshot.stack_start && address - snapshot.stack_start <= snapshot.stack.size() &&
        snapshot.stack.size() - (address - snapshot.stack_start) >= sizeof value) {
        std::memcpy(&value, snapshot.stack.data() + (address - snapshot.stack_start), sizeof value);
        return true;
    }
    return context.modules->read_file_backed(address, &value, sizeof value);
}

int access_mem(unw_addr_space_t, unw_word_t address, unw_word_t* value, int write, void* arg) {
    if (write)
        return -UNW_EINVAL;
    std::uint64_t word = 0;
    if (!read_word(context_of(arg), address, word))
        return -UNW_EINVAL;
    *value = word;
    return 0;
}

unsigned long long* register_slot(user_regs_struct& regs, unw_regnum_t number) {
    switch (number) {
    case UNW_X86_64_RAX:
        return &regs.rax;
    case UNW_X86_64_RDX:
        return &regs.rdx;
    case UNW_X86_64_RCX:
        return &regs.rcx;
    case UNW_X86_64_RBX:
        return &regs.rbx;
    case UNW_X86_64_RSI:
        return &regs.rsi;
    case UNW_X86_64_RDI:
        return &regs.rdi;
    case UNW_X86_64_RBP:
        return &regs.rbp;
    case UNW_X86_64_RSP:
        return &regs.rsp;
    case UNW_X86_64_R8:
        return &regs.r8;
    case UNW_X86_64_R9:
        return &regs.r9;
    case UNW_X86_64_R10:
        return &regs.r10;
    case UNW_X86_64_R11:
        return &regs.r11;
    case UNW_X86_64_R12:
        return &regs.r12;
    case UNW_X86_64_R13:
        return &regs.r13;
    case UNW_X86_64_R14:
        return &regs.r14;
    case UNW_X86_64_R15:
        return &regs.r15;
    case UNW_X86_64_RIP:
        return &regs.rip;
    default:
        return nullptr;
    }
}

int access_reg(unw_addr_space_t, unw_regnum_t number, unw_word_t* value, int write, void* arg) {
    if (write)
        return -UNW_EREADONLYREG;
    user_regs_struct regs = context_of(arg).registers;
    unsigned long long* slot = register_slot(regs, number);
    if (!slot)
        return -UNW_EBADREG;
    *value = *slot;
    return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) {
    return -UNW_EBADREG;
}
int resume(unw_addr_space_t, unw_cursor_t*, void*) {
    return -UNW_EINVAL;
}
int get_proc_name(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) {
    return -UNW_ENOINFO;
}

unw_accessors_t accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = get_dyn_info_list_addr,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = resume,
    .get_proc_name = get_proc_name,
};

} // namespace

struct RemoteUnwinder::State {
    const ModuleMap* modules = nullptr;
    CfiFallback fallback;
    // Compact CFI rules by the address they were looked up at (pc, or pc - 1 for a return
    // address) and whether it was a return address (a PLT stub's rule depends on the exact pc):
    // a stack seen before unwinds with hash lookups and loads from the copy.
    std::unordered_map<std::uint64_t, CompactFrameRule> rules;
    DirectMappedCache<CompactFrameRule, 9> recent_rules; // in front of `rules`; cleared with it
    unw_addr_space_t space = nullptr;
    ~State() {
        if (space)
            unw_destroy_addr_space(space);
    }
};

RemoteUnwinder::RemoteUnwinder(const ModuleMap& modules) : state_(std::make_unique<State>()) {
    state_->modules = &modules;
    state_->space = unw_create_addr_space(&accessors, 0);
    if (!state_->space)
        throw Error(ErrorKind::internal, "libunwind: cannot create an address space");
    // Each address space is used by one thread at a time. UNW_CACHE_GLOBAL takes a lock around
    // every use of the cache, and libunwind's lock blocks all signals first: two sigprocmask
    // calls per frame, which were a third of sampler's CPU. This libunwind is built without a
    // per-thread (TLS) cache, so "per thread" keeps the cache in this address space, unlocked.
    unw_set_caching_policy(state_->space, UNW_CACHE_NONE);
}

RemoteUnwinder::~RemoteUnwinder() = default;

void RemoteUnwinder::flush_cache() {
    state_->rules.clear();
    state_->recent_rules.clear();
    state_->fallback.keep_only(state_->modules->modules());
    unw_flush_cache(state_->space, 0, 0);
}

namespace {

// Whether `ip` is the kernel's signal return trampoline (glibc's and musl's __restore_rt:
// `mov $15, %rax; syscall`): the frame after it was interrupted by a signal, and its address is
// exact, not a return address.
bool is_signal_return(const UnwindContext& context, std::uint64_t ip) {
    std::uint64_t first = 0, second = 0;
    return read_word(context, ip, first) && read_word(context, ip + 8, second) &&
           first == 0x0f0000000fc0c748 && (second & 0xff) == 0x05;
}

// The cursor's registers in DWARF numbering (the same as libunwind's for x86-64); register 16
// holds the frame's own address.
DwarfRegisters cursor_registers(unw_cursor_t& cursor) {
    DwarfRegisters regs;
    for (int number = 0; number < DwarfRegisters::count; ++number) {
        unw_word_t value = 0;
        if (unw_get_reg(&cursor, number, &value) == 0)
            regs.set(number, value);
    }
    return regs;
}

user_regs_struct to_user_regs(const DwarfRegisters& regs, const DwarfRegisters& fallback) {
    user_regs_struct out{};
    for (int number = 0; number < DwarfRegisters::count; ++number) {
        // Registers the caller's CFI does not restore are assumed unchanged (callee-saved).
        std::uint64_t value = regs.known[number] ? regs.value[number] : fallback.value[number];
        if (unsigned long long* slot = register_slot(out, number))
            *slot = value;
    }
    return out;
}

} // namespace

std::optional<UnwoundStack> RemoteUnwinder::unwind_with_compact_rules(const ThreadSnapshot& snapshot,
                                                                      std::size_t max_depth) {
    constexpr std::size_t max_cached_rules = 1 << 20; // bounded whatever the target runs
    UnwoundStack result;
    UnwindContext context{&snapshot, state_->modules, snapshot.registers, 0};
    std::uint64_t pc = snapshot.registers.rip;
    std::uint64_t sp = snapshot.registers.rsp;
    std::uint64_t fp = snapshot.registers.rbp;
    bool fp_known = true;
    for (std::size_t depth = 0;; ++depth) {
        if (depth == max_depth) {
            result.end = UnwindEnd::depth_limit;
            return result;
        }
        if (pc == 0) {
            // The end of the chain, unless there was no frame at all.
            if (depth == 0)
                result.end = UnwindEnd::truncated;
            return result;
        }
        const bool is_return_address = depth > 0;
        result.frames.push_back({pc, is_return_address});
        const std::uint64_t lookup = is_return_address ? pc - 1 : pc;
        const std::uint64_t key = lookup << 1 | (is_return_address ? 1 : 0);
        const CompactFrameRule* recent = state_->recent_rules.find(key);
        if (!recent) {
            auto cached = state_->rules.find(key);
            if (cached == state_->rules.end()) {
                const Module* module = state_->modules->module_at(lookup);
                if (!module)
                    return std::nullopt; // libunwind's path knows what to do with unknown code
                if (state_->rules.size() >= max_cached_rules) {
                    state_->rules.clear();
                    state_->recent_rules.clear();
                }
                cached =
                    state_->rules.emplace(key, state_->fallback.compact_rule(*module, pc, is_return_address))
                        .first;
            }
            state_->recent_rules.put(key, cached->second);
            recent = &cached->second;
        }
        const CompactFrameRule& rule = *recent;
        if (rule.kind == CompactFrameRule::Kind::outermost)
            return result;
        if (rule.kind != CompactFrameRule::Kind::simple || (rule.cfa_from_frame_pointer && !fp_known))
            return std::nullopt;
        const std::uint64_t cfa = (rule.cfa_from_frame_pointer ? fp : sp) + std::int64_t{rule.cfa_offset};
        // The stack only grows down: a caller's frame lies above its callee's.
        if (cfa <= sp) {
            result.end = UnwindEnd::truncated;
            return result;
        }
        std::uint64_t return_address = 0;
        if (!read_word(context, cfa + std::int64_t{rule.return_address_offset}, return_address)) {
            result.end = UnwindEnd::truncated; // ran off the copied stack
            return result;
        }
        if (rule.frame_pointer == CompactFrameRule::FramePointer::saved)
            fp_known = read_word(context, cfa + std::int64_t{rule.frame_pointer_offset}, fp);
        else if (rule.frame_pointer == CompactFrameRule::FramePointer::lost)
            fp_known = false;
        sp = cfa;
        pc = return_address;
    }
}

UnwoundStack RemoteUnwinder::unwind(const ThreadSnapshot& snapshot, std::size_t max_depth) {
    if (auto fast = unwind_with_compact_rules(snapshot, max_depth))
        return *fast;
    UnwoundStack result;
    UnwindContext context{&snapshot, state_->modules, snapshot.registers, 0};
    unw_cursor_t cursor;
    if (unw_init_remote(&cursor, state_->space, &context) != 0) {
        result.end = UnwindEnd::truncated;
        return result;
    }
    bool caller_of_signal_frame = false;
    unw_word_t previous_sp = 0;
    for (std::size_t depth = 0;; ++depth) {
        if (depth == max_depth) {
            result.end = UnwindEnd::depth_limit;
            break;
        }
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(&cursor, UNW_REG_IP, &ip);
        unw_get_reg(&cursor, UNW_REG_SP, &sp);
        if (ip == 0)
            break;
        // A stack pointer that moves down means a corrupt stack: stop rather than loop.
        if (depth > 0 && sp < previous_sp) {
            result.end = UnwindEnd::truncated;
            break;
        }
        previous_sp = sp;
        bool is_return_address = depth > 0 && !caller_of_signal_frame;
        result.frames.push_back({ip, is_return_address});
        // Not unw_is_signal_frame: this libunwind answers it for the frame stepped from last,
        // one frame late.
        caller_of_signal_frame = is_signal_return(context, ip);

        DwarfRegisters before = cursor_registers(cursor);
        context.no_table_ip = 0;
        int step = unw_step(&cursor);
        bool no_table =
            context.no_table_ip != 0 && (context.no_table_ip == ip || context.no_table_ip == ip - 1);
        if (no_table) {
            // libunwind had no table for this code (and may have guessed from frame pointers):
            // take the step from the module's .debug_frame instead, and restart the cursor there.
            const Module* module = state_->modules->module_at(is_return_address ? ip - 1 : ip);
            auto reader = [&](std::uint64_t address, std::uint64_t& out) {
                return read_word(context, address, out);
            };
            auto caller =
                module ? state_->fallback.step(*module, before, is_return_address, reader) : std::nullopt;
            if (!caller) {
                result.end = step == 0 ? UnwindEnd::complete : UnwindEnd::truncated;
                break;
            }
            context.registers = to_user_regs(*caller, before);
            if (unw_init_remote(&cursor, state_->space, &context) != 0) {
                result.end = UnwindEnd::truncated;
                break;
            }
            continue;
        }
        if (step == 0)
            break;
        if (step < 0) {
            result.end = UnwindEnd::truncated;
            break;
        }
    }
    // Only known code can be a thread's outermost frame: a chain that ends in no module (a wild
    // address, garbage taken for a return address, code we cannot see) was cut short.
    if (result.end == UnwindEnd::complete &&
        (result.frames.empty() ||
         !state_->modules->module_at(result.frames.back().address -
                                     (result.frames.back().is_return_address ? 1 : 0))))
        result.end = UnwindEnd::truncated;
    return result;
}

} // namespace sampler

// The native unwinders on snapshots of this test's own thread: registers and stack bytes copied
// exactly as a capture engine copies a target's, then unwound from the copy alone (with the
// module files), against the chain of calls that is known to be there. No ptrace, no other
// process: what is checked is the unwinding, not the capture.

#include "cfi_fallback.hpp"
#include "elf_symbols.hpp"
#include "module_map.hpp"
#include "own_thread_snapshot.hpp"
#include "remote_unwinder.hpp"
#include "symbolizer.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <climits>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace sampler;

namespace {

ThreadSnapshot* pending_snapshot = nullptr;

} // namespace

// Outside the anonymous namespace and never inlined: their names are what the unwound stack
// must show (under own_thread_snapshot's). The asm statements after each call keep it from
// being a tail call.
extern "C" __attribute__((noinline)) void unwinder_test_middle(ThreadSnapshot& out) {
    own_thread_snapshot(out);
    asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void unwinder_test_outer(ThreadSnapshot& out) {
    unwinder_test_middle(out);
    asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void unwinder_test_signal_handler(int) {
    own_thread_snapshot(*pending_snapshot);
    asm volatile("" ::: "memory");
}

// Interrupted by a signal whose handler takes the snapshot: the stack then runs through the
// kernel's signal frame (libc's __restore_rt), whose CFI is an expression only libunwind
// evaluates: this stack takes the unwinder's libunwind path.
extern "C" __attribute__((noinline)) void unwinder_test_interrupted(ThreadSnapshot& out) {
    pending_snapshot = &out;
    struct sigaction action {};
    action.sa_handler = unwinder_test_signal_handler;
    struct sigaction previous {};
    REQUIRE(sigaction(SIGUSR2, &action, &previous) == 0);
    ::raise(SIGUSR2);
    sigaction(SIGUSR2, &previous, nullptr);
    pending_snapshot = nullptr;
    asm volatile("" ::: "memory");
}

namespace {

// The function names of `stack`, innermost first (the outermost function of each address: an
// inlined call's caller is what matters here).
std::vector<std::string> function_names(Symbolizer& symbolizer, const UnwoundStack& stack) {
    std::vector<std::string> names;
    for (const StackAddress& frame : stack.frames) {
        const std::vector<Frame>& frames = symbolizer.frames_for(frame.address, frame.is_return_address);
        names.push_back(frames.empty() ? std::string() : frames.back().name);
    }
    return names;
}

DwarfRegisters dwarf_registers(const user_regs_struct& r) {
    DwarfRegisters registers;
    const std::uint64_t values[] = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp,
                                    r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
    for (int number = 0; number < 16; ++number)
        registers.set(number, values[number]);
    registers.set(DwarfRegisters::return_address, r.rip);
    return registers;
}

// A snapshot taken by `take`, unwound against this process's modules, with its frames' names.
struct UnwoundSnapshot {
    ThreadSnapshot snapshot;
    ModuleMap modules{::getpid()};
    std::unique_ptr<RemoteUnwinder> unwinder;
    UnwoundStack stack;
    std::vector<std::string> names;

    explicit UnwoundSnapshot(void (*take)(ThreadSnapshot&)) {
        take(snapshot);
        modules.refresh();
        unwinder = std::make_unique<RemoteUnwinder>(modules);
        stack = unwinder->unwind(snapshot);
        Symbolizer symbolizer(modules);
        names = function_names(symbolizer, stack);
    }
};

// This test binary's lazy-binding stubs (.plt), at their run-time addresses, and the module
// they are in.
struct PltSection {
    const Module* module = nullptr;
    std::uint64_t start = 0;
    std::uint64_t end = 0;
};

PltSection own_plt(const ModuleMap& modules) {
    char exe[PATH_MAX] = {};
    REQUIRE(::readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    PltSection plt;
    for (const Module& module : modules.modules())
        if (module.path == exe)
            plt.module = &module;
    REQUIRE(plt.module);
    const ElfSymbols sections(plt.module->image);
    const ElfSection* section = sections.section(".plt");
    REQUIRE(section);
    plt.start = section->address + plt.module->bias;
    plt.end = plt.start + section->size;
    return plt;
}

// Where a stub's caller's stack pointer is, by the x86-64 PLT's CFA expression: 8 above the
// stack pointer (the return address), 8 more once the stub has pushed its relocation index,
// which it has from byte 11 of its 16 on (`jmp *GOT; push $index; jmp PLT0`).
std::int32_t plt_cfa_offset(std::uint64_t pc) {
    return (pc & 15) >= 11 ? 16 : 8;
}

} // namespace

TEST_CASE("a snapshot of a known call chain unwinds to it, through to the thread's first frame", "[unwind]") {
    const UnwoundSnapshot unwound(unwinder_test_outer);
    const ThreadSnapshot& snapshot = unwound.snapshot;
    const UnwoundStack& stack = unwound.stack;
    RemoteUnwinder& unwinder = *unwound.unwinder;
    const std::vector<std::string>& names = unwound.names;
    INFO("unwound: " << Catch::Detail::stringify(names));
    REQUIRE(names.size() >= 4);
    CHECK(names[0] == "own_thread_snapshot");
    CHECK(names[1] == "unwinder_test_middle");
    CHECK(names[2] == "unwinder_test_outer");
    CHECK(stack.end == UnwindEnd::complete);
    CHECK(names.back() == "_start");
    CHECK(testing::contains_in_order(names, {"unwinder_test_outer", "main", "__libc_start_main", "_start"}));
    CHECK_FALSE(stack.frames[0].is_return_address);
    for (std::size_t i = 1; i < stack.frames.size(); ++i)
        CHECK(stack.frames[i].is_return_address);

    SECTION("the depth limit stops it there, and says so") {
        const UnwoundStack limited = unwinder.unwind(snapshot, 2);
        CHECK(limited.frames.size() == 2);
        CHECK(limited.end == UnwindEnd::depth_limit);
    }
    SECTION("a copy cut short ends the stack as truncated, never with made-up frames") {
        ThreadSnapshot cut = snapshot;
        cut.stack.resize(64);
        const UnwoundStack short_stack = unwinder.unwind(cut);
        CHECK(short_stack.end == UnwindEnd::truncated);
        CHECK(short_stack.frames.size() < stack.frames.size());
        for (std::size_t i = 0; i < short_stack.frames.size(); ++i)
            CHECK(short_stack.frames[i].address == stack.frames[i].address);
    }
    SECTION("garbage in the copied stack gives a short stack, not a crash or a loop") {
        ThreadSnapshot garbage = snapshot;
        for (std::size_t i = 0; i < garbage.stack.size(); ++i)
            garbage.stack[i] = static_cast<std::uint8_t>(i * 131 + 7);
        const UnwoundStack broken = unwinder.unwind(garbage);
        CHECK(broken.frames.size() <= 1024);
        CHECK(broken.frames.at(0).address == snapshot.registers.rip);
        CHECK(broken.end == UnwindEnd::truncated); // it never reads as a whole stack
    }
    SECTION("a wild or null instruction pointer is a stack cut short, not a complete one") {
        // No frame pointer either: nothing tells where its caller is. (With one, as in the
        // sanitizer build, libunwind may follow the chain on to the thread's first frame.)
        ThreadSnapshot wild = snapshot;
        wild.registers.rip = 0xdeadbeef;
        wild.registers.rbp = 0;
        const UnwoundStack unknown_code = unwinder.unwind(wild);
        CHECK(unknown_code.end == UnwindEnd::truncated);
        REQUIRE_FALSE(unknown_code.frames.empty());
        CHECK(unknown_code.frames[0].address == 0xdeadbeef);
        wild.registers.rip = 0;
        const UnwoundStack none = unwinder.unwind(wild);
        CHECK(none.frames.empty());
        CHECK(none.end == UnwindEnd::truncated);
    }
}

TEST_CASE("a snapshot taken in a signal handler unwinds through the signal frame to the "
          "interrupted code",
          "[unwind]") {
    const UnwoundSnapshot unwound(unwinder_test_interrupted);
    const UnwoundStack& stack = unwound.stack;
    const std::vector<std::string>& names = unwound.names;
    INFO("unwound: " << Catch::Detail::stringify(names));
    REQUIRE(names.size() >= 4);
    CHECK(names[0] == "own_thread_snapshot");
    CHECK(names[1] == "unwinder_test_signal_handler");
    // Then the kernel's signal frame (libc's __restore_rt, unnamed: a local symbol stripped from
    // Debian's libc), then the code the signal interrupted, at its exact address: no return
    // address there, nothing to look up one byte before.
    CHECK(testing::contains_in_order(
        names, {"unwinder_test_signal_handler", "raise", "unwinder_test_interrupted", "main", "_start"}));
    CHECK(stack.frames[2].is_return_address);
    CHECK_FALSE(stack.frames[3].is_return_address);
    CHECK(stack.end == UnwindEnd::complete);
}

TEST_CASE("CFI steps from the module files alone give the same callers as the unwinder", "[unwind]") {
    const UnwoundSnapshot unwound(unwinder_test_outer);
    const ThreadSnapshot& snapshot = unwound.snapshot;
    const ModuleMap& modules = unwound.modules;
    const UnwoundStack& expected = unwound.stack;
    REQUIRE(expected.frames.size() >= 4);

    CfiFallback cfi;
    auto read = [&](std::uint64_t address, std::uint64_t& out) {
        if (address >= snapshot.stack_start &&
            address + sizeof out <= snapshot.stack_start + snapshot.stack.size()) {
            std::memcpy(&out, snapshot.stack.data() + (address - snapshot.stack_start), sizeof out);
            return true;
        }
        return modules.read_file_backed(address, &out, sizeof out);
    };
    DwarfRegisters registers = dwarf_registers(snapshot.registers);
    // Our own frames and main's: the same return address at each step as the unwinder found.
    for (std::size_t depth = 0; depth + 1 < 4; ++depth) {
        const std::uint64_t pc = registers.value[DwarfRegisters::return_address];
        REQUIRE(pc == expected.frames[depth].address);
        const bool is_return_address = depth > 0;
        const Module* module = modules.module_at(is_return_address ? pc - 1 : pc);
        REQUIRE(module);
        CHECK(cfi.compact_rule(*module, pc, is_return_address).kind == CompactFrameRule::Kind::simple);
        auto caller = cfi.step(*module, registers, is_return_address, read);
        REQUIRE(caller);
        CHECK(caller->value[DwarfRegisters::sp] > registers.value[DwarfRegisters::sp]);
        registers = *caller;
    }
    CHECK(registers.value[DwarfRegisters::return_address] == expected.frames[3].address);
}

TEST_CASE("CFI of modules no longer mapped, or now opened under another path, is let go", "[unwind]") {
    const UnwoundSnapshot unwound(unwinder_test_outer);
    const ModuleMap& modules = unwound.modules;
    const std::uint64_t pc = unwound.stack.frames[0].address;
    const Module* module = modules.module_at(pc);
    REQUIRE(module);
    CfiFallback cfi;
    REQUIRE(cfi.compact_rule(*module, pc, false).kind == CompactFrameRule::Kind::simple);
    REQUIRE(cfi.open_modules() == 1);
    cfi.keep_only(modules.modules()); // still mapped, under the same path
    CHECK(cfi.open_modules() == 1);

    // The same file, read through another thread of the process: a new open path.
    Module moved = *module;
    moved.open_path = "/proc/self/root" + module->path;
    CHECK(cfi.compact_rule(moved, pc, false).kind == CompactFrameRule::Kind::simple);
    CHECK(cfi.open_modules() == 2);
    cfi.keep_only({moved});
    CHECK(cfi.open_modules() == 1);
    CHECK(cfi.compact_rule(moved, pc, false).kind == CompactFrameRule::Kind::simple);
    cfi.keep_only({});
    CHECK(cfi.open_modules() == 0);
}

TEST_CASE("a PLT stub's CFA expression gives a compact rule, and a stack stopped in one unwinds "
          "through it",
          "[unwind]") {
    const UnwoundSnapshot unwound(unwinder_test_outer);
    const ThreadSnapshot& snapshot = unwound.snapshot;
    const UnwoundStack& expected = unwound.stack;
    REQUIRE(expected.frames.size() >= 4);
    const PltSection plt = own_plt(unwound.modules);
    // The stubs after the first (PLT0, the resolver's entry, has rules of its own).
    const std::uint64_t first_stub = plt.start + 16;
    REQUIRE(first_stub + 16 <= plt.end);

    CfiFallback cfi;
    for (std::uint64_t pc = first_stub; pc < first_stub + 32 && pc < plt.end; ++pc) {
        INFO("stub byte " << (pc & 15));
        const CompactFrameRule rule = cfi.compact_rule(*plt.module, pc, false);
        REQUIRE(rule.kind == CompactFrameRule::Kind::simple);
        CHECK_FALSE(rule.cfa_from_frame_pointer);
        CHECK(rule.cfa_offset == plt_cfa_offset(pc));
        CHECK(rule.return_address_offset == -8);
    }

    // The full evaluator steps the same way: the caller's stack pointer and return address.
    const std::uint64_t stack_pointer = 0x7000'0000'1000;
    const std::uint64_t return_address = expected.frames[1].address;
    for (std::uint64_t pc : {first_stub, first_stub + 6, first_stub + 11, first_stub + 15}) {
        INFO("stub byte " << (pc & 15));
        DwarfRegisters registers;
        registers.set(DwarfRegisters::sp, stack_pointer);
        registers.set(DwarfRegisters::return_address, pc);
        const std::uint64_t cfa = stack_pointer + plt_cfa_offset(pc);
        auto read = [&](std::uint64_t address, std::uint64_t& out) {
            out = address == cfa - 8 ? return_address : 0;
            return address >= stack_pointer && address < cfa;
        };
        auto caller = cfi.step(*plt.module, registers, false, read);
        REQUIRE(caller);
        CHECK(caller->value[DwarfRegisters::sp] == cfa);
        CHECK(caller->value[DwarfRegisters::return_address] == return_address);
    }

    // A thread stopped in a stub its caller called: the snapshot of a known chain with a stub
    // in place of its innermost frame, before and after the stub's push.
    const CompactFrameRule innermost =
        cfi.compact_rule(*unwound.modules.module_at(snapshot.registers.rip), snapshot.registers.rip, false);
    REQUIRE(innermost.kind == CompactFrameRule::Kind::simple);
    // The innermost frame's CFA: above it lies its caller's frame, unchanged. In a stub the
    // caller's frame pointer is still in rbp (the sanitizer build keeps frame pointers: there
    // the innermost frame had saved it).
    const std::uint64_t caller_sp =
        (innermost.cfa_from_frame_pointer ? snapshot.registers.rbp : snapshot.registers.rsp) +
        innermost.cfa_offset;
    std::uint64_t caller_rbp = snapshot.registers.rbp;
    if (innermost.frame_pointer == CompactFrameRule::FramePointer::saved) {
        const std::uint64_t saved_at = caller_sp + innermost.frame_pointer_offset;
        REQUIRE(saved_at >= snapshot.stack_start);
        REQUIRE(saved_at + 8 <= snapshot.stack_start + snapshot.stack.size());
        std::memcpy(&caller_rbp, snapshot.stack.data() + (saved_at - snapshot.stack_start),
                    sizeof caller_rbp);
    }
    for (std::uint64_t pc : {first_stub, first_stub + 11}) {
        INFO("stub byte " << (pc & 15));
        ThreadSnapshot in_stub = snapshot;
        in_stub.registers.rip = pc;
        in_stub.registers.rsp = caller_sp - plt_cfa_offset(pc);
        in_stub.registers.rbp = caller_rbp;
        const std::uint64_t cut = in_stub.registers.rsp - snapshot.stack_start;
        REQUIRE(cut < snapshot.stack.size());
        in_stub.stack.assign(snapshot.stack.begin() + static_cast<std::ptrdiff_t>(cut), snapshot.stack.end());
        in_stub.stack_start = in_stub.registers.rsp;
        const std::uint64_t pushed_index = 7;
        if (plt_cfa_offset(pc) == 16)
            std::memcpy(in_stub.stack.data(), &pushed_index, sizeof pushed_index);
        const UnwoundStack stack = unwound.unwinder->unwind(in_stub);
        REQUIRE(stack.frames.size() == expected.frames.size());
        CHECK(stack.frames[0].address == pc);
        CHECK_FALSE(stack.frames[0].is_return_address);
        for (std::size_t i = 1; i < stack.frames.size(); ++i)
            CHECK(stack.frames[i].address == expected.frames[i].address);
        CHECK(stack.end == expected.end);
    }
}

#include "own_thread_snapshot.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <pthread.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

namespace {

// Where this thread's stack ends (its highest address).
std::uint64_t stack_top() {
    pthread_attr_t attributes;
    REQUIRE(pthread_getattr_np(pthread_self(), &attributes) == 0);
    void* base = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attributes, &base, &size);
    pthread_attr_destroy(&attributes);
    return reinterpret_cast<std::uint64_t>(base) + size;
}

} // namespace

extern "C" __attribute__((noinline)) void own_thread_snapshot(sampler::ThreadSnapshot& out) {
    ucontext_t context;
    getcontext(&context); // the registers as they are just after this call returns
    const greg_t* g = context.uc_mcontext.gregs;
    user_regs_struct& r = out.registers;
    r.rip = g[REG_RIP];
    r.rsp = g[REG_RSP];
    r.rbp = g[REG_RBP];
    r.rbx = g[REG_RBX];
    r.r12 = g[REG_R12];
    r.r13 = g[REG_R13];
    r.r14 = g[REG_R14];
    r.r15 = g[REG_R15];
    r.rax = g[REG_RAX];
    r.rcx = g[REG_RCX];
    r.rdx = g[REG_RDX];
    r.rsi = g[REG_RSI];
    r.rdi = g[REG_RDI];
    r.r8 = g[REG_R8];
    r.r9 = g[REG_R9];
    r.r10 = g[REG_R10];
    r.r11 = g[REG_R11];
    // Only this frame's locals change from here on; return addresses and saved registers do not.
    out.tid = static_cast<int>(::gettid());
    out.stack_start = r.rsp;
    const std::uint64_t size = std::min<std::uint64_t>(stack_top() - r.rsp, 256 * 1024);
    out.stack.resize(size);
    // Copied by the kernel, as from a target: a sanitizer would take a plain copy of the stack,
    // its guard zones included, for an overflow.
    iovec local{out.stack.data(), size};
    iovec remote{reinterpret_cast<void*>(r.rsp), size};
    REQUIRE(::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size));
    asm volatile("" ::: "memory");
}

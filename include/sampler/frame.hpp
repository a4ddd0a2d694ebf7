#pragma once
// One frame of a symbolized stack, and how it is labelled in outputs.

#include <compare>
#include <cstdint>
#include <string>

namespace sampler {

enum class FrameKind : std::uint8_t {
    native, // machine code with a symbol (C, C++, Rust)
    python, // a Python function read out of the interpreter
    kernel,
    unknown, // an address no module or symbol explains
    thread,  // pseudo-frame: `thread TID (name)` root added by --threads
    process, // pseudo-frame: `process PID (cmdline)` root
    task,    // pseudo-frame: `task NAME (coroutine)` or `loop (no task)` root added by --tasks
};

// The kind as outputs name it: "native", "python", "kernel", "unknown", "thread", "process",
// "task".
const char* frame_kind_name(FrameKind kind);

// A root frame that names who ran the stack (a process, a task, a thread), not code.
constexpr bool is_root_label(FrameKind kind) {
    return kind == FrameKind::thread || kind == FrameKind::process || kind == FrameKind::task;
}

struct Frame {
    FrameKind kind = FrameKind::unknown;
    std::string name{};        // function name or pseudo-frame label; empty when unknown
    std::string file{};        // source file; empty when unknown
    std::uint32_t line = 0;    // 0 when unknown
    std::string module{};      // basename of the ELF module holding the code
    std::uint64_t address = 0; // absolute address (unknown frames) for display
    std::uint64_t module_offset = 0;
    std::uint64_t symbol_offset = 0; // address minus symbol start, when only a symbol is known
    // Where the function itself is, for formats that describe functions (pprof): its entry as a
    // link-time address in `module` (for an inline frame, the entry of the function it was
    // inlined into: the machine code belongs to that one), the file declaring it, and the line
    // its definition starts on (co_firstlineno for Python). 0 or empty when unknown.
    std::uint64_t function_offset = 0;
    std::string function_file{};
    std::uint32_t function_line = 0;
    bool inlined = false;
    // FrameRef (call_tree.hpp) mirrors every field above: a new one goes there too.

    auto operator<=>(const Frame&) const = default;
};

// The label used in aggregated outputs (folded, flame graph, top):
//   `name (file:line)` when a line is known, `name` when only a name is,
//   `module+0xOFF` for an address inside a module without a symbol, `0xADDR` otherwise.
std::string aggregate_label(const Frame& frame);

// The label `dump` prints: `function (file:line)`, `function+0xOFF (module)`,
// `0xADDR (module+0xOFF)`, `0xADDR`; inline frames end in ` [inline]`.
std::string dump_label(const Frame& frame);

} // namespace sampler

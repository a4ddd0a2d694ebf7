#pragma once
// One unwinding step from DWARF call-frame information read with libdw, for code that libunwind
// finds no unwind table for: functions described only in .debug_frame (built with
// -fno-asynchronous-unwind-tables), which libunwind's remote API does not search.

#include "module_map.hpp"

#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sampler {

// x86-64 registers by DWARF number: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, 16 = return address.
struct DwarfRegisters {
    static constexpr int count = 17;
    static constexpr int sp = 7;
    static constexpr int return_address = 16;
    std::array<std::uint64_t, count> value{};
    std::bitset<count> known;
    void set(int number, std::uint64_t v) {
        value[number] = v;
        known.set(number);
    }
};

// The CFI rules of one address when they are the simple kind nearly all compiled code has on
// x86-64: the CFA is the stack or frame pointer plus a constant, the return address is saved at
// the CFA plus a constant, and the frame pointer is either kept or saved the same way. Unwinding
// with these needs no expression evaluation and no libunwind: a few additions and loads.
struct CompactFrameRule {
    enum class Kind : std::uint8_t {
        none,      // no CFI for the address, or rules of another kind (use libunwind)
        simple,    // the fields below apply
        outermost, // the return address is undefined: the first frame of a thread
    };
    enum class FramePointer : std::uint8_t { unchanged, saved, lost };
    Kind kind = Kind::none;
    bool cfa_from_frame_pointer = false; // CFA = rbp + cfa_offset (else rsp + cfa_offset)
    FramePointer frame_pointer = FramePointer::unchanged;
    std::int32_t cfa_offset = 0;
    std::int32_t return_address_offset = 0; // from the CFA
    std::int32_t frame_pointer_offset = 0;  // from the CFA, when saved
};

// Reads 8 bytes of target memory (from a stack copy or a module file); false when unreadable.
using WordReader = std::function<bool(std::uint64_t address, std::uint64_t& out)>;

class CfiFallback {
  public:
    CfiFallback();
    ~CfiFallback();
    CfiFallback(const CfiFallback&) = delete;
    CfiFallback& operator=(const CfiFallback&) = delete;

    // The caller's registers, or nullopt when the module has no CFI for `pc` or the rules cannot
    // be evaluated. `pc` is the exact address (the lookup is done at pc - 1 for return addresses).
    std::optional<DwarfRegisters> step(const Module& module, const DwarfRegisters& current,
                                       bool is_return_address, const WordReader& read);

    // The rule for `pc` (looked up at pc - 1 for return addresses) when it is compact.
    CompactFrameRule compact_rule(const Module& module, std::uint64_t pc, bool is_return_address);

    // Closes the files of modules no longer among `modules`: unmapped ones, and those the
    // target is now read through another thread for (a new open path, /proc/TID/...).
    void keep_only(const std::vector<Module>& modules);
    std::size_t open_modules() const { return modules_.size(); }

  private:
    struct ModuleCfi;
    ModuleCfi* cfi_for(const Module& module);
    std::map<std::string, std::unique_ptr<ModuleCfi>> modules_; // by open path
};

} // namespace sampler

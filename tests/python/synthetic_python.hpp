#pragma once
// Builds a fake CPython heap of any layout in FakeMemory: strings, bytes, code objects, frames,
// thread states and an interpreter, laid out at the offsets the layout table says. Lets the
// walkers be tested, and fed corrupt structures, without a real interpreter.

#include "fake_memory.hpp"
#include "python_reader.hpp"
#include "python_reader_impl.hpp"
#include "python_target.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sampler::testing {

class SyntheticPython {
  public:
    static constexpr std::uint64_t heap_start = 0x10000000;
    static constexpr std::size_t default_heap_size = 4 << 20;

    explicit SyntheticPython(const python::PythonLayout& layout, std::size_t heap_size = default_heap_size);

    FakeMemory& memory() { return memory_; }
    const python::PythonLayout& layout() const { return layout_; }

    std::uint64_t alloc(std::size_t size);
    // A str: ASCII when every code point < 128, else the narrowest PEP 393 kind (3.x), or a
    // 2.7 byte string of the UTF-8.
    std::uint64_t str(const std::u32string& text);
    std::uint64_t str(const std::string& utf8);
    std::uint64_t bytes(const std::vector<std::uint8_t>& data);
    std::uint64_t code(const std::string& name, const std::string& file, int first_line,
                       const std::vector<std::uint8_t>& line_table, const std::string& qualname = "");
    // <= 3.10 frame object; `lasti` in the version's unit.
    std::uint64_t frame_object(std::uint64_t code, std::uint64_t back, int lasti);
    // 3.11+ interpreter frame; `byte_offset` of the current instruction from the code start.
    std::uint64_t interpreter_frame(std::uint64_t code, std::uint64_t previous, std::int64_t byte_offset,
                                    int owner = 0, bool is_entry = false);
    // Whether the generator running `frame` runs or is suspended, where the version keeps it
    // (<= 3.10 in the frame object; 3.11 in the generator holding its frame, which
    // interpreter_frame makes for a generator-owned frame). Frames begin as running.
    void set_generator_running(std::uint64_t frame, bool running);
    // A glibc-like struct pthread with tid `tid`.
    std::uint64_t pthread(int tid);
    // A thread state of the main interpreter (prepended to its list) whose innermost frame is `frame`.
    std::uint64_t thread_state(std::uint64_t frame, int tid);
    void set_gil_holder(std::uint64_t thread_state);

    python::PythonTarget target() const;
    PythonReader reader() const { return PythonReader(std::make_unique<PythonReader::Impl>(target())); }

    std::uint64_t interp() const { return interp_; }
    std::uint64_t entry() const { return entry_; }

  private:
    python::PythonLayout layout_;
    FakeMemory memory_;
    std::uint64_t next_ = heap_start;
    std::size_t heap_size_;
    python::TypeAddresses types_;
    std::uint64_t entry_ = 0; // _PyRuntime or &interp_head
    std::uint64_t interp_ = 0;
    std::uint64_t gil_current_ = 0; // &_PyThreadState_Current (2.7/3.6)
    std::uint64_t gil_ = 0;         // _gil_runtime_state (3.12+)
};

// A location table (3.11+) entry of the one-line form with `line_delta` 0..2, covering
// `code_units` (1..8) code units.
std::vector<std::uint8_t> location_entry_one_line(int line_delta, int code_units);
// A long-form entry (code 14) with a signed line delta.
std::vector<std::uint8_t> location_entry_long(int line_delta, int code_units);

} // namespace sampler::testing

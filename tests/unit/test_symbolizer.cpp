#include "module_map.hpp"
#include "symbolizer.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

using namespace sampler;

namespace test_symbols {
__attribute__((noinline)) int known_function(int x) {
    asm volatile("" ::: "memory");
    return x * 3 + 1;
}
} // namespace test_symbols

TEST_CASE("our own function symbolizes to its demangled name, file and line, results are cached") {
    ModuleMap modules(::getpid());
    modules.refresh();
    Symbolizer symbolizer(modules);
    auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    const auto& frames = symbolizer.frames_for(address, false);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].name == "test_symbols::known_function(int)");
    CHECK(frames[0].kind == FrameKind::native);
    CHECK(frames[0].file.ends_with("test_symbolizer.cpp"));
    CHECK(frames[0].line >= 10);
    CHECK(frames[0].line <= 12);
    CHECK(frames[0].symbol_offset == 0);
    CHECK_FALSE(frames[0].inlined);
    std::size_t cached = symbolizer.cache_size();
    symbolizer.frames_for(address, false);
    CHECK(symbolizer.cache_size() == cached);
    symbolizer.frames_for(address + 1, false);
    CHECK(symbolizer.cache_size() == cached + 1);
}

TEST_CASE(
    "a function's frames carry its entry, file and first line, names-only functions just their symbol") {
    ModuleMap modules(::getpid());
    modules.refresh();
    Symbolizer symbolizer(modules);
    auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    const Module* module = modules.module_at(address);
    REQUIRE(module);
    const Frame described = symbolizer.frames_for(address + 2, false).at(0);
    CHECK(described.function_offset == address - module->bias);
    CHECK(described.function_file.ends_with("test_symbolizer.cpp"));
    CHECK(described.function_line == 10);

    Symbolizer names_only(modules);
    names_only.set_names_only({"test_symbols::known_function(int)"});
    const auto& frames = names_only.frames_for(address + 2, false);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].name == "test_symbols::known_function(int)");
    CHECK(frames[0].file.empty());
    CHECK(frames[0].line == 0);
    CHECK(frames[0].symbol_offset == 2);
    CHECK(frames[0].function_offset == described.function_offset);
    // Other addresses of that function come from its range, each with its own offsets; the
    // address just past it is not taken for it.
    const Frame as_return = names_only.frames_for(address + 5, true).at(0);
    CHECK(as_return.name == "test_symbols::known_function(int)");
    CHECK(as_return.symbol_offset == 5);
    CHECK(as_return.module_offset == address + 5 - module->bias);
    CHECK(as_return.address == address + 5);
    const Frame first = names_only.frames_for(address, false).at(0);
    CHECK(first.symbol_offset == 0);
    CHECK(first.function_offset == described.function_offset);
}

TEST_CASE("addresses outside every module become unknown frames") {
    ModuleMap modules(::getpid());
    modules.refresh();
    Symbolizer symbolizer(modules);
    const auto& frames = symbolizer.frames_for(0x10, true);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].kind == FrameKind::unknown);
    CHECK(frames[0].name.empty());
    CHECK(frames[0].address == 0x10);
}

TEST_CASE("demangling and symbol versions") {
    CHECK(demangle("_ZN3foo3barEv") == "foo::bar()");
    CHECK(demangle("main") == "main");
    CHECK(strip_symbol_version("__libc_start_main@@GLIBC_2.34") == "__libc_start_main");
    CHECK(strip_symbol_version("memcpy@GLIBC_2.2.5") == "memcpy");
    CHECK(strip_symbol_version("plain") == "plain");
}

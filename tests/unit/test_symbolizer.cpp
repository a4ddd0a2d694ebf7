#include "elf_symbols.hpp"
#include "module_map.hpp"
#include "sampler/error.hpp"
#include "shared_elf_files.hpp"
#include "symbolizer.hpp"
#include "test_children.hpp"

#include <catch2/catch.hpp>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <fcntl.h>
#include <future>
#include <gelf.h>
#include <libelf.h>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace sampler;

namespace test_symbols {
constexpr std::uint32_t known_function_line = __LINE__ + 1;
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
    CHECK(frames[0].line >= test_symbols::known_function_line);
    CHECK(frames[0].line <= test_symbols::known_function_line + 2);
    CHECK(frames[0].symbol_offset == 0);
    CHECK_FALSE(frames[0].inlined);
    std::size_t cached = symbolizer.cache_size();
    symbolizer.frames_for(address, false);
    CHECK(symbolizer.cache_size() == cached);
    symbolizer.frames_for(address + 1, false);
    CHECK(symbolizer.cache_size() == cached + 1);
}

TEST_CASE("symbolizers of processes that map one file share its libelf handle, and name its code alike") {
    // Each process has a Symbolizer of its own: a library's compressed DWARF is inflated once,
    // in the shared handle, not again for every process (see SharedElfFiles).
    ModuleMap first_map(::getpid());
    first_map.refresh();
    ModuleMap second_map(::getpid());
    second_map.refresh();
    const auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    Symbolizer first(first_map);
    const std::vector<Frame> from_first = first.frames_for(address, false);
    const std::size_t files = SharedElfFiles::instance().size();
    CHECK(files >= 1);
    Symbolizer second(second_map);
    const std::vector<Frame>& from_second = second.frames_for(address, false);
    CHECK(SharedElfFiles::instance().size() == files);
    REQUIRE(from_first.size() == 1);
    REQUIRE(from_second.size() == 1);
    CHECK(from_second[0].name == "test_symbols::known_function(int)");
    CHECK(from_second[0].file == from_first[0].file);
    CHECK(from_second[0].line == from_first[0].line);
    CHECK(from_second[0].line >= test_symbols::known_function_line);
}

TEST_CASE("a shared file is closed when the last symbolizer that reported it goes") {
    const std::size_t before = SharedElfFiles::instance().size();
    const auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    ModuleMap map(::getpid());
    map.refresh();
    {
        Symbolizer first(map);
        CHECK(first.frames_for(address, false).at(0).name == "test_symbols::known_function(int)");
        const std::size_t held = SharedElfFiles::instance().size();
        CHECK(held > before);
        {
            Symbolizer second(map);
            CHECK(second.frames_for(address, false).at(0).name == "test_symbols::known_function(int)");
            CHECK(SharedElfFiles::instance().size() == held);
        }
        CHECK(SharedElfFiles::instance().size() == held); // the first still has it
        // ...and still reads it after the second's libdwfl session ended its references.
        CHECK(first.frames_for(address + 1, false).at(0).name == "test_symbols::known_function(int)");
    }
    CHECK(SharedElfFiles::instance().size() == before);
}

TEST_CASE("a debug file with compressed sections is handed out as one inflated copy") {
    const std::string compressed = "/tmp/sampler-test-compressed-" + std::to_string(::getpid());
    const std::string command =
        "objcopy --compress-debug-sections=zlib /proc/" + std::to_string(::getpid()) + "/exe " + compressed;
    if (std::system(command.c_str()) != 0)
        FAIL("objcopy could not write " << compressed);
    auto count_compressed = [](int fd) {
        Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
        int count = 0;
        for (Elf_Scn* section = elf ? elf_nextscn(elf, nullptr) : nullptr; section;
             section = elf_nextscn(elf, section)) {
            GElf_Shdr header;
            count += gelf_getshdr(section, &header) && (header.sh_flags & SHF_COMPRESSED) != 0;
        }
        if (elf)
            elf_end(elf);
        return count;
    };
    elf_version(EV_CURRENT);
    SharedElfFiles files;
    const int original = ::open(compressed.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(original >= 0);
    CHECK(count_compressed(original) > 0);
    const int first = files.debug_file(::dup(original));
    const int second = files.debug_file(::dup(original));
    ::close(original);
    std::remove(compressed.c_str());
    REQUIRE(first >= 0);
    REQUIRE(second >= 0);
    CHECK(count_compressed(first) == 0);
    struct stat a {
    }, b{};
    REQUIRE(::fstat(first, &a) == 0);
    REQUIRE(::fstat(second, &b) == 0);
    CHECK(a.st_ino == b.st_ino); // one copy, made once
    CHECK(a.st_dev == b.st_dev);
    ::close(first);
    ::close(second);
    // Nothing to inflate: the file itself.
    const int plain = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    CHECK(files.debug_file(plain) == plain);
    ::close(plain);
}

TEST_CASE("a file that is not ELF, or is not there, gets no shared handle") {
    SharedElfFiles files;
    CHECK_FALSE(files.acquire("/no/such/file"));
    CHECK_FALSE(files.acquire("/proc/self/status")); // not a regular file
    CHECK_FALSE(files.acquire(__FILE__));            // not ELF
    CHECK(files.size() == 0);
    const std::optional<SharedElf> own = files.acquire("/proc/self/exe");
    REQUIRE(own);
    CHECK(own->load_end > own->first_load);
    const std::optional<SharedElf> again = files.acquire("/proc/self/exe");
    REQUIRE(again);
    CHECK(again->elf == own->elf); // one handle, two references
    CHECK(files.size() == 1);
    elf_end(again->elf);
    elf_end(own->elf);
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
    CHECK(described.function_line == test_symbols::known_function_line);

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

TEST_CASE("an address in a PLT stub is named after the function the stub jumps to") {
    ModuleMap modules(::getpid());
    modules.refresh();
    char exe[PATH_MAX] = {};
    REQUIRE(::readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    const Module* own = nullptr;
    for (const Module& module : modules.modules())
        if (module.path == exe)
            own = &module;
    REQUIRE(own);
    const ElfSymbols sections(own->image);
    const ElfSection* plt = sections.section(".plt");
    REQUIRE(plt);
    REQUIRE(plt->size >= 32);
    Symbolizer symbolizer(modules);
    // Every stub after PLT0 (the lazy binder's entry, which jumps to no function), at every
    // byte: one name, the function's with "@plt", with no line (stubs have no DWARF).
    std::set<std::string> names;
    for (std::uint64_t stub = plt->address + 16; stub + 16 <= plt->address + plt->size; stub += 16) {
        const std::string first = symbolizer.frames_for(stub + own->bias, false).at(0).name;
        INFO("stub at " << std::hex << stub);
        REQUIRE(first.ends_with("@plt"));
        CHECK(first.size() > 4);
        names.insert(first);
        for (std::uint64_t byte : {1, 6, 11, 15}) {
            const std::vector<Frame>& frames = symbolizer.frames_for(stub + own->bias + byte, false);
            REQUIRE(frames.size() == 1);
            CHECK(frames[0].name == first);
            CHECK(frames[0].kind == FrameKind::native);
            CHECK(frames[0].line == 0);
            CHECK(frames[0].symbol_offset == byte);
        }
    }
    // Each stub jumps to a function of its own (a constructor's complete-object and base-object
    // versions demangle alike); this test calls getpid through one.
    const std::uint64_t stubs = (plt->size - 16) / 16;
    CHECK(names.size() * 10 >= stubs * 9);
    CHECK(names.contains("getpid@plt"));
}

TEST_CASE("of several names at one address, the public one is shown whatever the table's order") {
    // Debian's libc has clock_gettime and its internal alias __clock_gettime, both global, at
    // one address (and malloc, __libc_malloc): the name must not depend on how the symbols
    // happened to sort.
    ModuleMap modules(::getpid());
    modules.refresh();
    Symbolizer symbolizer(modules);
    // libc's own: the sanitizer build's malloc is its interceptor.
    void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(libc);
    for (const char* name : {"clock_gettime", "malloc"}) {
        void* function = ::dlsym(libc, name);
        REQUIRE(function);
        const auto& frames = symbolizer.frames_for(reinterpret_cast<std::uint64_t>(function), false);
        REQUIRE_FALSE(frames.empty());
        CHECK(frames.back().name == name);
    }
    ::dlclose(libc);
}

TEST_CASE("a process's last maps stand once it has exited, zombie or reaped, for the samples it left") {
    const pid_t child = fork_paused_child();
    REQUIRE(child > 0);
    const ChildReaper reaper{child};
    // A fork: this function is at the same address in the child.
    const auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    ModuleMap modules(child);
    modules.refresh();
    REQUIRE(modules.module_at(address) != nullptr);
    const std::size_t count = modules.modules().size();
    Symbolizer symbolizer(modules); // its files opened while the process runs, as a session's are
    CHECK(symbolizer.frames_for(address, false).front().name == "test_symbols::known_function(int)");

    ::kill(child, SIGKILL);
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) == 0); // a zombie
    CHECK_FALSE(modules.refresh());
    CHECK(modules.modules().size() == count);
    CHECK(symbolizer.frames_for(address + 2, false).front().name == "test_symbols::known_function(int)");

    REQUIRE(::waitpid(child, nullptr, 0) == child); // reaped
    CHECK_FALSE(modules.refresh());
    CHECK(modules.module_at(address) != nullptr);
    // A pid read for the first time once gone is an error still.
    ModuleMap never_read(child);
    CHECK_THROWS_AS(never_read.refresh(), Error);
}

TEST_CASE("a module map read through another thread of the process opens its files there") {
    // As a session does when the thread it read through ends (a main thread's pthread_exit).
    std::promise<int> tid_of_other;
    std::promise<void> done;
    std::thread other([&] {
        tid_of_other.set_value(static_cast<int>(::gettid()));
        done.get_future().wait();
    });
    struct Release { // even when an assertion throws: a joinable thread's destructor aborts
        std::promise<void>& done;
        std::thread& thread;
        ~Release() {
            done.set_value();
            thread.join();
        }
    } release{done, other};
    const int tid = tid_of_other.get_future().get();
    ModuleMap modules(::getpid());
    modules.refresh();
    const std::uint64_t generation = modules.generation();
    modules.read_through(tid);
    CHECK(modules.generation() != generation); // caches keyed by module see new ones
    const std::string through_other = "/proc/" + std::to_string(tid) + "/";
    std::size_t reopened = 0;
    for (const Module& module : modules.modules()) {
        INFO(module.path << " opened at " << module.open_path);
        if (module.path != "[vdso]") { // served from our own copy of the vDSO
            CHECK(module.open_path.starts_with(through_other));
            ++reopened;
        }
    }
    CHECK(reopened > 2);
    Symbolizer symbolizer(modules);
    const auto address = reinterpret_cast<std::uint64_t>(&test_symbols::known_function);
    CHECK(symbolizer.frames_for(address, false).front().name == "test_symbols::known_function(int)");
    CHECK_NOTHROW(modules.refresh());
}

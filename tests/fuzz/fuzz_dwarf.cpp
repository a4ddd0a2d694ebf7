// Fuzz harness: an arbitrary file as a module of a target, read through libelf/libdw the way a
// profile reads it: the symbolizer (symbols, DWARF lines and inline scopes through libdwfl) and
// the fallback unwinder's CFI (.eh_frame, .debug_frame). The bytes are written to a file first,
// since both open the module by path. Anything but a result or a clean refusal is a bug.

#include "cfi_fallback.hpp"
#include "eh_frame_hdr.hpp"
#include "elf_image.hpp"
#include "module_map.hpp"
#include "process_maps.hpp"
#include "sampler/error.hpp"
#include "symbolizer.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace sampler;

namespace {

constexpr std::uint64_t mapped_at = 0x555500000000;
constexpr std::uint64_t mapped_size = 64 << 20;

// One file per fuzzing process, rewritten for each input and removed at exit.
class InputFile {
  public:
    InputFile() {
        char name[] = "/tmp/sampler-fuzz-dwarf-XXXXXX";
        fd_ = ::mkstemp(name);
        if (fd_ < 0) {
            std::perror("mkstemp");
            std::abort();
        }
        path_ = name;
    }
    ~InputFile() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    const std::string& write(const std::uint8_t* data, std::size_t size) {
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size)) {
            std::perror("writing the fuzz input");
            std::abort();
        }
        return path_;
    }

  private:
    int fd_ = -1;
    std::string path_;
};

// Addresses spread over each executable segment, as run-time addresses of `module`.
std::vector<std::uint64_t> code_addresses(const Module& module) {
    std::vector<std::uint64_t> addresses;
    for (const ElfSegment& segment : module.image->load_segments()) {
        if (!segment.executable)
            continue;
        const std::uint64_t size = std::max<std::uint64_t>(segment.memsz, 1);
        for (std::uint64_t step = 0; step < 8; ++step)
            addresses.push_back(segment.vaddr + module.bias + size * step / 8);
    }
    return addresses;
}

void unwind_from(const Module& module, const std::vector<std::uint64_t>& addresses) {
    CfiFallback cfi;
    WordReader nothing = [](std::uint64_t, std::uint64_t&) { return false; };
    WordReader constant = [](std::uint64_t address, std::uint64_t& out) {
        out = address ^ 0x5555;
        return true;
    };
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        DwarfRegisters registers;
        registers.set(DwarfRegisters::sp, 0x7ffff000);
        registers.set(6, 0x7ffff100); // rbp
        registers.set(DwarfRegisters::return_address, addresses[i]);
        (void)cfi.compact_rule(module, addresses[i], i % 2 == 1);
        (void)cfi.step(module, registers, i % 2 == 1, i % 4 < 2 ? nothing : constant);
    }
    (void)locate_eh_frame_table(module);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static InputFile file;
    const std::string& path = file.write(data, size);
    std::shared_ptr<const ElfImage> image;
    try {
        image = ElfImage::open(path);
    } catch (const Error&) {
        return 0;
    }
    MapEntry entry;
    entry.start = mapped_at;
    entry.end = mapped_at + mapped_size;
    entry.readable = entry.executable = true;
    entry.inode = 1;
    entry.path = path;
    ModuleMap modules(ProcessMaps({entry}), {{path, image}});
    if (modules.modules().empty())
        return 0;
    const Module& module = modules.modules().front();
    std::vector<std::uint64_t> addresses = code_addresses(module);
    unwind_from(module, addresses);
    Symbolizer symbolizer(modules);
    for (std::size_t i = 0; i < addresses.size(); ++i)
        for (const Frame& frame : symbolizer.frames_for(addresses[i], i % 2 == 1))
            (void)aggregate_label(frame);
    return 0;
}

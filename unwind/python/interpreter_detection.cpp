#include "interpreter_detection.hpp"

#include "debug_offsets.hpp"
#include "elf_symbols.hpp"
#include "proc_threads.hpp"
#include "python_version.hpp"
#include "runtime_scan.hpp"
#include "sampler/error.hpp"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace sampler::python {
namespace {

constexpr const char* supported_versions = "2.7 and 3.6-3.14";

// The process (thread group) thread `tid` belongs to, from its status file; `tid` when unreadable.
int thread_group_of(int tid) {
    const std::string status = read_small_file("/proc/" + std::to_string(tid) + "/status");
    const std::size_t at = status.find("\nTgid:");
    const int group = at == std::string::npos ? 0 : std::atoi(status.c_str() + at + 6);
    return group > 0 ? group : tid;
}

std::string executable_path(int pid) {
    if (pid <= 0)
        return {};
    char buffer[PATH_MAX];
    std::string link = "/proc/" + std::to_string(pid) + "/exe";
    ssize_t length = ::readlink(link.c_str(), buffer, sizeof buffer - 1);
    return length > 0 ? std::string(buffer, static_cast<std::size_t>(length)) : std::string();
}

// libpython first (the runtime of dynamically linked and embedding programs), then the
// executable (static builds). Without a pid, modules named python* stand for the executable.
std::vector<const Module*> candidate_modules(int pid, const ModuleMap& modules) {
    std::vector<const Module*> candidates;
    for (const Module& module : modules.modules())
        if (module.name().starts_with("libpython"))
            candidates.push_back(&module);
    std::string exe = executable_path(pid);
    for (const Module& module : modules.modules()) {
        bool is_executable = exe.empty() ? module.name().starts_with("python") : module.path == exe;
        if (is_executable && !module.name().starts_with("libpython"))
            candidates.push_back(&module);
    }
    return candidates;
}

// The run-time address of an 8-byte-aligned "xdebugpy" cookie in the file's loaded data that
// the target maps writable: the start of a 3.13+ _PyRuntime, found without symbols or sections.
std::optional<std::uint64_t> find_debug_cookie(const Module& module, const ProcessMaps& maps) {
    std::span<const std::uint8_t> bytes = module.image->bytes();
    for (const ElfSegment& segment : module.image->load_segments()) {
        if (segment.executable || segment.offset > bytes.size())
            continue;
        std::uint64_t size = std::min<std::uint64_t>(segment.filesz, bytes.size() - segment.offset);
        for (std::uint64_t at = (8 - segment.vaddr % 8) % 8; at + 16 <= size; at += 8) {
            if (std::memcmp(bytes.data() + segment.offset + at, debug_offsets_cookie, 8) != 0)
                continue;
            std::uint64_t address = module.bias + segment.vaddr + at;
            const MapEntry* mapping = maps.find(address);
            if (mapping && mapping->writable)
                return address;
        }
    }
    return std::nullopt;
}

class ModuleProbe {
  public:
    ModuleProbe(const Module& module, const ProcessMaps& maps, const RemoteMemory& memory,
                const PythonDetectOptions& options)
        : module_(module), maps_(maps), memory_(memory), options_(options), symbols_(module.image) {}

    std::optional<PythonTarget> probe(std::string& why_not);

  private:
    std::optional<std::uint64_t> symbol(const char* name) const {
        if (!options_.use_symbols)
            return std::nullopt;
        auto found = symbols_.find(name);
        return found ? std::optional<std::uint64_t>(module_.bias + found->address) : std::nullopt;
    }
    std::optional<std::uint64_t> runtime_address() const;
    std::optional<std::uint64_t> version_hex(std::optional<std::uint64_t> runtime) const;
    PythonLayout choose_layout(MinorVersion version, std::optional<std::uint64_t> runtime) const;
    TypeAddresses type_addresses(const PythonLayout& layout) const;
    [[noreturn]] void unsupported(const std::string& what) const {
        throw Error(ErrorKind::unsupported, what + " in " + module_.path +
                                                " is not supported (supported: " + supported_versions + ")");
    }

    const Module& module_;
    const ProcessMaps& maps_;
    const RemoteMemory& memory_;
    const PythonDetectOptions& options_;
    ElfSymbols symbols_;
};

std::optional<std::uint64_t> ModuleProbe::runtime_address() const {
    if (auto found = symbol("_PyRuntime"))
        return found;
    if (options_.use_sections)
        if (const ElfSection* section = symbols_.section(".PyRuntime"))
            return module_.bias + section->address;
    return find_debug_cookie(module_, maps_);
}

std::optional<std::uint64_t> ModuleProbe::version_hex(std::optional<std::uint64_t> runtime) const {
    if (auto address = symbol("Py_Version")) {
        std::uint32_t hex = 0;
        if (memory_.read_value(*address, hex) && (hex >> 24) >= 2)
            return hex;
    }
    if (runtime) {
        std::uint8_t header[16] = {};
        if (memory_.read(*runtime, header, sizeof header))
            return debug_offsets_version(header);
    }
    return std::nullopt;
}

PythonLayout ModuleProbe::choose_layout(MinorVersion version, std::optional<std::uint64_t> runtime) const {
    std::string name = "CPython " + std::to_string(version.major) + "." + std::to_string(version.minor);
    if (version.major == 3 && version.minor >= 13) {
        std::vector<std::uint8_t> bytes(debug_offsets_read_size);
        std::string why;
        if (runtime && memory_.read(*runtime, bytes.data(), bytes.size()))
            if (auto layout = layout_from_debug_offsets(bytes, &why))
                return *layout;
        if (version.minor == 13 && why.empty())
            return layout_3_13(); // the runtime is not readable yet: the measured table
        unsupported(name + (why.empty() ? "" : " (" + why + ")"));
    }
    const PythonLayout* layout = layout_for(version.major, version.minor);
    if (!layout)
        unsupported(name);
    return *layout;
}

TypeAddresses ModuleProbe::type_addresses(const PythonLayout& layout) const {
    bool py2 = layout.strings.py2_bytes;
    TypeAddresses types;
    types.code = symbol("PyCode_Type").value_or(0);
    types.frame = layout.frames == FrameModel::frame_object ? symbol("PyFrame_Type").value_or(0) : 0;
    types.str = symbol(py2 ? "PyString_Type" : "PyUnicode_Type").value_or(0);
    types.bytes = symbol(py2 ? "PyString_Type" : "PyBytes_Type").value_or(0);
    return types;
}

std::optional<PythonTarget> ModuleProbe::probe(std::string& why_not) {
    auto runtime = runtime_address();
    auto interp_head = symbol("interp_head");
    auto name_version = version_from_file_name(module_.name());
    if (!runtime && !interp_head && !name_version) {
        why_not = module_.path + " holds no CPython runtime";
        return std::nullopt;
    }
    MinorVersion version;
    auto hex = version_hex(runtime);
    if (hex)
        version = {static_cast<int>((*hex >> 24) & 0xff), static_cast<int>((*hex >> 16) & 0xff)};
    else if (name_version)
        version = *name_version;
    else
        throw Error(ErrorKind::unsupported, "cannot tell the version of the CPython in " + module_.path);

    PythonTarget target;
    target.layout = choose_layout(version, runtime);
    target.version =
        hex ? format_version_hex(*hex) : full_version_from_bytes(module_.image->bytes(), version);
    target.module_path = module_.path;
    target.types = type_addresses(target.layout);
    if (target.layout.entry == EntryModel::runtime)
        target.entry_address = runtime.value_or(0);
    else
        target.entry_address = interp_head.value_or(0);
    if (target.entry_address == 0)
        target.entry_address = scan_for_entry(module_, maps_, memory_, target.layout).value_or(0);
    if (target.entry_address == 0) {
        why_not = "found CPython " + target.version + " in " + module_.path +
                  " but not its interpreter state (stripped, and no live interpreter found in its data)";
        return std::nullopt;
    }
    if (target.layout.gil_model == GilModel::current_symbol)
        target.gil_current_address = symbol("_PyThreadState_Current").value_or(0);
    return target;
}

} // namespace

std::optional<PythonTarget> locate_interpreter(int pid, const ModuleMap& modules, const RemoteMemory& memory,
                                               const PythonDetectOptions& options, std::string* why_not) {
    std::string reasons;
    for (const Module* module : candidate_modules(pid, modules)) {
        if (!module->image)
            continue;
        std::string why;
        if (auto target = ModuleProbe(*module, modules.maps(), memory, options).probe(why)) {
            // Its threads are looked up under the process's id: the thread it was found through
            // (`pid`, another than the main one when that had exited) may end before the others.
            target->pid = pid > 0 ? thread_group_of(pid) : pid;
            return target;
        }
        reasons += (reasons.empty() ? "" : "; ") + why;
    }
    if (why_not)
        *why_not = reasons.empty() ? "no libpython is mapped and the executable is not CPython" : reasons;
    return std::nullopt;
}

} // namespace sampler::python

#include "symbolizer.hpp"

#include "elf_image.hpp"
#include "sampler/error.hpp"
#include "shared_elf_files.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <libelf.h>
#include <optional>
#include <string>
#include <unistd.h>

namespace sampler {
namespace {

char* debuginfo_path = nullptr; // libdwfl's default: .debug next to the file and /usr/lib/debug

// A module's file, for libdwfl: its shared handle when it was reported with one (the reference
// passes to libdwfl, which ends it with the module), else the file itself.
int find_module_elf(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, char** file_name, Elf** elf) {
    auto* shared = userdata ? static_cast<SharedModuleFile*>(*userdata) : nullptr;
    if (!shared)
        return -1;
    *file_name = ::strdup(shared->open_path.c_str()); // where .gnu_debuglink files are looked for
    if (shared->elf) {
        *elf = shared->elf;
        shared->elf = nullptr;
        return -1;
    }
    return ::open(shared->open_path.c_str(), O_RDONLY | O_CLOEXEC);
}

// libdwfl asks for two kinds of file: the module's separate debug file (debuglink_file is then
// the main file's .gnu_debuglink, or null) and, for DWARF that refers to a dwz common file, that
// file (debuglink_file is the DWARF's .gnu_debugaltlink name, with no CRC). The module's build ID
// names only the first: handing it out for the second makes every reference into the common file
// (inlined functions' names, shared strings) resolve in the wrong file.
bool asks_for_module_debug_file(Dwfl_Module* module, const char* debuglink_file, GElf_Word debuglink_crc) {
    if (!debuglink_file || debuglink_crc != 0)
        return true;
    GElf_Addr bias = 0;
    Elf* main_file = dwfl_module_getelf(module, &bias); // loaded before any debug file is looked for
    GElf_Word main_crc = 0;
    const char* main_link = main_file ? dwelf_elf_gnu_debuglink(main_file, &main_crc) : nullptr;
    return main_link && std::strcmp(main_link, debuglink_file) == 0;
}

// The separate debug file by build ID (/usr/lib/debug/.build-id/xx/rest.debug), as the run's
// inflated copy (SharedElfFiles); else libdwfl's own search, untouched. (Its build-ID search
// hands libdwfl an Elf of its own beside the descriptor, made from the compressed file: a copy
// must be returned before it runs.)
int find_module_debuginfo(Dwfl_Module* module, void** userdata, const char* name, Dwarf_Addr base,
                          const char* file_name, const char* debuglink_file, GElf_Word debuglink_crc,
                          char** debuginfo_file_name) {
    const unsigned char* bits = nullptr;
    GElf_Addr address = 0;
    const int length = asks_for_module_debug_file(module, debuglink_file, debuglink_crc)
                           ? dwfl_module_build_id(module, &bits, &address)
                           : 0;
    if (length > 1 && bits) {
        const std::string hex = to_hex({bits, static_cast<std::size_t>(length)});
        const std::string path =
            "/usr/lib/debug/.build-id/" + hex.substr(0, 2) + "/" + hex.substr(2) + ".debug";
        if (const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
            if (debuginfo_file_name)
                *debuginfo_file_name = ::strdup(path.c_str());
            return SharedElfFiles::instance().debug_file(fd);
        }
    }
    return dwfl_standard_find_debuginfo(module, userdata, name, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

const Dwfl_Callbacks callbacks = {
    .find_elf = find_module_elf,
    .find_debuginfo = find_module_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = &debuginfo_path,
};

std::string die_function_name(Dwarf_Die* die) {
    Dwarf_Attribute attribute;
    for (int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
        if (dwarf_attr_integrate(die, name, &attribute))
            if (const char* linkage = dwarf_formstring(&attribute))
                return demangle(linkage);
    }
    if (dwarf_attr_integrate(die, DW_AT_name, &attribute))
        if (const char* plain = dwarf_formstring(&attribute))
            return plain;
    return {};
}

struct SourceLocation {
    std::string file;
    std::uint32_t line = 0;
};

SourceLocation call_site(Dwarf_Die* inlined, Dwarf_Die* cu) {
    SourceLocation site;
    Dwarf_Attribute attribute;
    Dwarf_Word value = 0;
    if (dwarf_attr(inlined, DW_AT_call_line, &attribute) && dwarf_formudata(&attribute, &value) == 0)
        site.line = static_cast<std::uint32_t>(value);
    Dwarf_Files* files = nullptr;
    std::size_t file_count = 0;
    if (dwarf_attr(inlined, DW_AT_call_file, &attribute) && dwarf_formudata(&attribute, &value) == 0 &&
        dwarf_getsrcfiles(cu, &files, &file_count) == 0 && value < file_count)
        if (const char* name = dwarf_filesrc(files, value, nullptr, nullptr))
            site.file = name;
    return site;
}

// The declaring file and first line of a subprogram or inlined call (through its abstract origin).
void describe_function(Dwarf_Die* die, Frame& frame) {
    if (const char* file = dwarf_decl_file(die))
        frame.function_file = file;
    int line = 0;
    if (dwarf_decl_line(die, &line) == 0 && line > 0)
        frame.function_line = static_cast<std::uint32_t>(line);
}

// libdw's own lookup, for what the index does not cover: it walks the whole unit. dwarf_getscopes
// continues past an inlined call into the inlined function's own lexical parents;
// dwarf_getscopes_die on the innermost scope follows the concrete nesting instead: inlined
// call, its caller (maybe inlined too), ..., the real function.
std::vector<Dwarf_Die> scopes_by_walking(Dwarf_Die* cu, Dwarf_Addr address) {
    std::vector<Dwarf_Die> result;
    Dwarf_Die* address_scopes = nullptr;
    Dwarf_Die* scopes = nullptr;
    int count = 0;
    if (dwarf_getscopes(cu, address, &address_scopes) > 0)
        count = dwarf_getscopes_die(&address_scopes[0], &scopes);
    std::free(address_scopes);
    result.assign(scopes, scopes + std::max(count, 0));
    std::free(scopes);
    return result;
}

} // namespace

const ScopeIndex& Symbolizer::scope_index(Dwarf_Die* cu) {
    auto key = std::make_pair(static_cast<const void*>(dwarf_cu_getdwarf(cu->cu)), dwarf_dieoffset(cu));
    auto found = scope_indexes_.find(key);
    if (found == scope_indexes_.end())
        found = scope_indexes_.emplace(key, std::make_unique<ScopeIndex>(cu)).first;
    return *found->second;
}

std::string strip_symbol_version(const char* symbol) {
    // `__libc_start_main@@GLIBC_2.34`: the version tells users nothing about where time goes.
    std::string name = symbol;
    if (std::size_t at = name.find('@'); at != std::string::npos && at > 0)
        name.resize(at);
    return name;
}

std::string demangle(const char* symbol) {
    int status = 0;
    char* plain = abi::__cxa_demangle(symbol, nullptr, nullptr, &status);
    if (status != 0 || !plain)
        return symbol;
    std::string result = plain;
    std::free(plain);
    return result;
}

void Symbolizer::DwflCloser::operator()(Dwfl* dwfl) const {
    dwfl_end(dwfl);
}

Symbolizer::Symbolizer(const ModuleMap& modules) : modules_(modules), dwfl_(dwfl_begin(&callbacks)) {
    if (!dwfl_)
        throw Error(ErrorKind::internal, std::string("libdwfl: ") + dwfl_errmsg(-1));
}

Symbolizer::~Symbolizer() = default;

SharedModuleFile::~SharedModuleFile() {
    if (elf)
        elf_end(elf);
    SharedElfFiles::instance().release(handle);
}

bool Symbolizer::ensure_reported(const Module& module) {
    auto key = std::make_pair(module.path, module.bias);
    if (reported_.contains(key))
        return true;
    reported_.insert(key);
    dwfl_report_begin_add(dwfl_.get());
    Dwfl_Module* reported = nullptr;
    if (std::optional<SharedElf> shared = SharedElfFiles::instance().acquire(module.open_path)) {
        // The addresses libdwfl would reckon from the file: its bias (the module's low address
        // less the first segment's) is then the load bias.
        shared_files_.emplace_back(module.open_path, shared->elf);
        reported = dwfl_report_module(dwfl_.get(), module.path.c_str(), module.bias + shared->first_load,
                                      module.bias + shared->load_end);
        void** userdata = nullptr;
        if (reported &&
            dwfl_module_info(reported, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) &&
            userdata)
            *userdata = &shared_files_.back();
    } else {
        // add_p_vaddr=true: the base we pass is the load bias, libdwfl adds the segment addresses.
        reported = dwfl_report_elf(dwfl_.get(), module.path.c_str(), module.open_path.c_str(), -1,
                                   module.bias, true);
    }
    dwfl_report_end(dwfl_.get(), nullptr, nullptr);
    return reported != nullptr;
}

const std::vector<Frame>& Symbolizer::frames_for(std::uint64_t address, bool is_return_address) {
    if (recent_generation_ != modules_.generation()) {
        recent_.clear();
        recent_generation_ = modules_.generation();
    }
    const std::uint64_t recent_key = (address << 1) | (is_return_address ? 1 : 0);
    if (const std::vector<Frame>* const* recent = recent_.find(recent_key))
        return **recent;
    const std::vector<Frame>& frames = lookup_frames(address, is_return_address);
    recent_.put(recent_key, &frames);
    return frames;
}

const std::vector<Frame>& Symbolizer::lookup_frames(std::uint64_t address, bool is_return_address) {
    std::uint64_t lookup = is_return_address && address > 0 ? address - 1 : address;
    const Module* module = modules_.module_at(lookup);
    if (!module) {
        auto [it, inserted] = unknown_cache_.try_emplace(address);
        if (inserted) {
            Frame frame;
            frame.address = address;
            if (const MapEntry* entry = modules_.maps().find(lookup); entry && !entry->path.empty()) {
                frame.module = entry->path.front() == '/' ? path_basename(entry->path) : entry->path;
                frame.module_offset = address - entry->start + entry->offset;
            }
            it->second.push_back(frame);
        }
        return it->second;
    }
    // Consecutive lookups are mostly in one module: its cache is found without hashing the path.
    if (!last_path_ || *last_path_ != module->path) {
        auto [it, inserted] = cache_.try_emplace(module->path);
        last_path_ = &it->first;
        last_cache_ = &it->second;
    }
    ModuleCache& cache = *last_cache_;
    const std::uint64_t key = ((address - module->bias) << 1) | (is_return_address ? 1 : 0);
    if (auto found = cache.frames.find(key); found != cache.frames.end())
        return found->second;
    std::vector<Frame> frames = in_names_only_range(cache, *module, address, lookup);
    if (frames.empty())
        frames = resolve(*module, address, lookup, cache);
    return cache.frames.emplace(key, std::move(frames)).first->second;
}

void Symbolizer::load_debug_info(const Module& module) {
    if (!ensure_reported(module))
        return;
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_.get(), module.start);
    Dwarf_Addr bias = 0;
    if (mod)
        dwfl_module_getdwarf(mod, &bias); // none is fine: names from the symbol table, no lines
}

std::size_t Symbolizer::cache_size() const {
    std::size_t size = 0;
    for (const auto& [path, cache] : cache_)
        size += cache.frames.size();
    return size;
}

std::vector<Frame> Symbolizer::in_names_only_range(const ModuleCache& cache, const Module& module,
                                                   std::uint64_t address, std::uint64_t lookup) {
    const std::uint64_t offset = lookup - module.bias;
    auto range = cache.names_only.upper_bound(offset);
    if (range == cache.names_only.begin())
        return {};
    --range;
    if (offset >= range->second.end)
        return {};
    Frame frame = range->second.frame;
    frame.address = address;
    frame.module_offset = address - module.bias;
    frame.symbol_offset = address - module.bias - range->first;
    return {frame};
}

std::vector<Frame> Symbolizer::resolve(const Module& module, std::uint64_t address, std::uint64_t lookup,
                                       ModuleCache& cache) {
    Frame base;
    base.kind = FrameKind::unknown;
    base.address = address;
    base.module = module.name();
    base.module_offset = address - module.bias;

    std::vector<Frame> frames;
    Dwfl_Module* mod = ensure_reported(module) ? dwfl_addrmodule(dwfl_.get(), lookup) : nullptr;
    if (!mod)
        return {base};

    GElf_Off symbol_offset = 0;
    std::uint64_t symbol_size = 0;
    const char* symbol_name = nullptr;
    bool plt_stub = false;
    const FunctionSymbols& symbols = function_symbols_.try_emplace(mod, mod).first->second;
    if (auto hit = symbols.find(lookup)) {
        symbol_name = hit->name;
        symbol_offset = lookup - hit->start;
        symbol_size = hit->size;
        plt_stub = hit->plt_stub;
    } else {
        // No sized function symbol holds it: libdwfl's own search also weighs unsized ones.
        GElf_Sym symbol;
        symbol_name = dwfl_module_addrinfo(mod, lookup, &symbol_offset, &symbol, nullptr, nullptr, nullptr);
        symbol_size = symbol_name ? symbol.st_size : 0;
    }
    if (symbol_name) {
        base.kind = FrameKind::native;
        base.name = demangle(strip_symbol_version(symbol_name).c_str()) + (plt_stub ? "@plt" : "");
        base.symbol_offset = symbol_offset + (address - lookup);
        base.function_offset = base.module_offset - base.symbol_offset;
        if (names_only_.contains(base.name)) {
            const std::uint64_t start = lookup - symbol_offset - module.bias;
            if (symbol_size > 0 && symbol_offset < symbol_size)
                cache.names_only[start] = NamesOnlyRange{start + symbol_size, base};
            return {base};
        }
    }

    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(mod, lookup, &bias);
    SourceLocation location;
    Dwfl_Line* line = cu ? dwfl_module_getsrc(mod, lookup) : nullptr;
    if (line) {
        int lineno = 0;
        if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
            location.file = file;
            location.line = lineno > 0 ? static_cast<std::uint32_t>(lineno) : 0;
        }
    }

    std::vector<Dwarf_Die> scopes;
    if (cu) {
        scopes = scope_index(cu).scopes_at(lookup - bias);
        if (scopes.empty())
            scopes = scopes_by_walking(cu, lookup - bias);
    }
    bool in_described_function = false;
    for (std::size_t i = 0; i < scopes.size(); ++i) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) {
            Frame inlined = base;
            inlined.name = die_function_name(&scopes[i]);
            inlined.kind = FrameKind::native;
            inlined.file = location.file;
            inlined.line = location.line;
            inlined.inlined = true;
            describe_function(&scopes[i], inlined);
            frames.push_back(std::move(inlined));
            location = call_site(&scopes[i], cu);
        } else if (tag == DW_TAG_subprogram) {
            in_described_function = true;
            if (base.name.empty()) {
                base.name = die_function_name(&scopes[i]);
                base.kind = base.name.empty() ? FrameKind::unknown : FrameKind::native;
                Dwarf_Addr entry = 0;
                if (dwarf_entrypc(&scopes[i], &entry) == 0)
                    base.function_offset = entry;
            }
            describe_function(&scopes[i], base);
            break;
        }
    }
    for (Frame& inlined : frames)
        inlined.function_offset = base.function_offset;
    // Trust a line only inside a function the DWARF describes: for code without DWARF (crt1.o's
    // _start, say) libdwfl would return a neighbouring unit's last line.
    if (in_described_function) {
        base.file = location.file;
        base.line = location.line;
    }
    frames.push_back(std::move(base));
    return frames;
}

} // namespace sampler

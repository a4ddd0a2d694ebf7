#include "module_globals.hpp"

namespace sampler::python {
namespace {

std::uint64_t pointer_at(const RemoteMemory& memory, std::uint64_t address, int offset) {
    std::uint64_t value = 0;
    if (offset == absent || address == 0 ||
        !memory.read_value(address + static_cast<std::uint64_t>(offset), value))
        return 0;
    return value;
}

} // namespace

std::uint64_t ModuleGlobals::modules(const RemoteMemory& memory, std::uint64_t interp) {
    const PythonLayout& layout = objects_.layout();
    const std::uint64_t modules = pointer_at(memory, interp, layout.interp.modules);
    if (dict_type_ == 0) {
        if (!has_type_name(memory, modules, "dict"))
            return 0;
        dict_type_ = pointer_at(memory, modules, layout.ob_type);
    }
    return is_dict(memory, modules) ? modules : 0;
}

bool ModuleGlobals::is_dict(const RemoteMemory& memory, std::uint64_t object) const {
    return dict_type_ != 0 && object != 0 &&
           pointer_at(memory, object, objects_.layout().ob_type) == dict_type_;
}

std::optional<std::uint64_t> ModuleGlobals::module_dict(const RemoteMemory& memory, std::uint64_t modules,
                                                        std::string_view module) {
    auto loaded = dicts().entries(memory, modules);
    auto found = loaded ? lookup(memory, *loaded, module, &keys_) : std::nullopt;
    if (!found)
        return std::nullopt;
    const std::uint64_t dict = pointer_at(memory, *found, objects_.layout().module_dict);
    return is_dict(memory, dict) ? std::optional<std::uint64_t>(dict) : std::nullopt;
}

std::optional<std::uint64_t> ModuleGlobals::global(const RemoteMemory& memory, std::uint64_t modules,
                                                   std::string_view module, std::string_view name) {
    auto dict = module_dict(memory, modules, module);
    auto globals = dict ? dicts().entries(memory, *dict) : std::nullopt;
    return globals ? lookup(memory, *globals, name, &keys_) : std::nullopt;
}

std::optional<std::uint64_t> ModuleGlobals::lookup(const RemoteMemory& memory,
                                                   const std::vector<DictEntry>& entries,
                                                   std::string_view key, KeyCache* keys) const {
    std::uint64_t* known = keys ? keys->slot(key) : nullptr;
    if (known && *known != 0)
        for (const DictEntry& entry : entries)
            if (entry.key == *known)
                return entry.value;
    for (const DictEntry& entry : entries) {
        if (objects_.read_string(memory, entry.key) == key) {
            if (known)
                *known = entry.key;
            return entry.value;
        }
    }
    return std::nullopt;
}

} // namespace sampler::python

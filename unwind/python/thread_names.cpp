#include "thread_names.hpp"

#include "instance_dict.hpp"
#include "interpreter_state.hpp"

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

std::unordered_map<std::uint64_t, std::string>
ThreadNameReader::read(const RemoteMemory& memory, std::uint64_t interp,
                       const std::unordered_set<std::uint64_t>& idents) {
    std::unordered_map<std::uint64_t, std::string> names;
    auto active = idents.empty() ? std::nullopt : find_active(memory, interp);
    if (!active)
        return names;
    auto threads = dicts().entries(memory, *active);
    if (!threads) {
        active_.erase(interp); // look for it again next time
        return names;
    }
    std::size_t looked_at = 0;
    for (const DictEntry& thread : *threads) {
        if (++looked_at > max_named_threads)
            break;
        // The keys are ints, and an int's hash is its value (below 2**61 - 1, as pthread_t
        // addresses are): the hash names the thread without reading the int object.
        if (!idents.contains(thread.hash))
            continue;
        if (auto name = thread_name(memory, thread.value))
            names.emplace(thread.hash, std::move(*name));
    }
    return names;
}

std::optional<std::uint64_t> ThreadNameReader::find_active(const RemoteMemory& memory, std::uint64_t interp) {
    const PythonLayout& layout = objects_.layout();
    if (auto cached = active_.find(interp); cached != active_.end()) {
        if (pointer_at(memory, cached->second, layout.ob_type) == dict_type_)
            return cached->second;
        active_.erase(cached);
    }
    std::uint64_t modules = pointer_at(memory, interp, layout.interp.modules);
    if (dict_type_ == 0) {
        if (!has_type_name(memory, modules, "dict"))
            return std::nullopt;
        dict_type_ = pointer_at(memory, modules, layout.ob_type);
    }
    auto active = module_global(memory, modules, "threading", "_active");
    if (active) {
        if (active_.size() >= max_interpreters)
            active_.clear();
        active_[interp] = *active;
    }
    return active;
}

std::optional<std::uint64_t> ThreadNameReader::module_global(const RemoteMemory& memory,
                                                             std::uint64_t modules, const char* module,
                                                             const char* global) {
    const PythonLayout& layout = objects_.layout();
    auto loaded = dicts().entries(memory, modules);
    auto found = loaded ? lookup(memory, *loaded, module) : std::nullopt;
    auto globals =
        found ? dicts().entries(memory, pointer_at(memory, *found, layout.module_dict)) : std::nullopt;
    auto value = globals ? lookup(memory, *globals, global) : std::nullopt;
    if (!value || pointer_at(memory, *value, layout.ob_type) != dict_type_)
        return std::nullopt;
    return value;
}

std::optional<std::string> ThreadNameReader::thread_name(const RemoteMemory& memory, std::uint64_t thread) {
    const PythonLayout& layout = objects_.layout();
    auto attributes = instance_attributes(memory, dicts(), layout, thread);
    // 2.7's Thread keeps its name in `self.__name`, mangled to `_Thread__name`.
    std::string_view attribute = layout.strings.py2_bytes ? "_Thread__name" : "_name";
    auto name = attributes ? lookup(memory, *attributes, attribute, &name_key_) : std::nullopt;
    return name ? objects_.read_string(memory, *name) : std::nullopt;
}

std::optional<std::uint64_t> ThreadNameReader::lookup(const RemoteMemory& memory,
                                                      const std::vector<DictEntry>& entries,
                                                      std::string_view key, std::uint64_t* known_key) const {
    if (known_key && *known_key != 0)
        for (const DictEntry& entry : entries)
            if (entry.key == *known_key)
                return entry.value;
    for (const DictEntry& entry : entries) {
        if (objects_.read_string(memory, entry.key) == key) {
            if (known_key)
                *known_key = entry.key;
            return entry.value;
        }
    }
    return std::nullopt;
}

} // namespace sampler::python

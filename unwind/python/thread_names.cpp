#include "thread_names.hpp"

#include "instance_dict.hpp"
#include "interpreter_state.hpp"

namespace sampler::python {

std::unordered_map<std::uint64_t, std::string>
ThreadNameReader::read(const RemoteMemory& memory, std::uint64_t interp,
                       const std::unordered_set<std::uint64_t>& idents) {
    std::unordered_map<std::uint64_t, std::string> names;
    auto active = idents.empty() ? std::nullopt : find_active(memory, interp);
    if (!active)
        return names;
    auto threads = globals_.dicts().entries(memory, *active);
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
    if (auto cached = active_.find(interp); cached != active_.end()) {
        if (globals_.is_dict(memory, cached->second))
            return cached->second;
        active_.erase(cached);
    }
    const std::uint64_t modules = globals_.modules(memory, interp);
    auto active = modules ? globals_.global(memory, modules, "threading", "_active") : std::nullopt;
    if (!active || !globals_.is_dict(memory, *active))
        return std::nullopt;
    if (active_.size() >= max_interpreters)
        active_.clear();
    active_[interp] = *active;
    return active;
}

std::optional<std::string> ThreadNameReader::thread_name(const RemoteMemory& memory, std::uint64_t thread) {
    const PythonLayout& layout = objects_.layout();
    auto attributes = instance_attributes(memory, globals_.dicts(), layout, thread);
    // 2.7's Thread keeps its name in `self.__name`, mangled to `_Thread__name`.
    std::string_view attribute = layout.strings.py2_bytes ? "_Thread__name" : "_name";
    auto name = attributes ? globals_.lookup(memory, *attributes, attribute, &name_key_) : std::nullopt;
    return name ? objects_.read_string(memory, *name) : std::nullopt;
}

} // namespace sampler::python

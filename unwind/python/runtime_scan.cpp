#include "runtime_scan.hpp"

#include "object_reader.hpp"
#include "pthread_tid.hpp"

#include <cstring>
#include <vector>

namespace sampler::python {
namespace {

bool plausible_pointer(std::uint64_t address) {
    return address != 0 && address < (std::uint64_t{1} << 47) && (address & 7) == 0;
}

std::uint64_t read_pointer(const RemoteMemory& memory, std::uint64_t address) {
    std::uint64_t value = 0;
    return plausible_pointer(address) && memory.read_value(address, value) ? value : 0;
}

// True when `address` is in a writable mapping: where interpreter and thread states live.
bool in_writable_memory(const ProcessMaps& maps, std::uint64_t address) {
    const MapEntry* entry = maps.find(address);
    return entry && entry->writable && entry->readable;
}

bool plausible_runtime(const RemoteMemory& memory, const ProcessMaps& maps, const PythonLayout& layout,
                       std::uint64_t head, std::uint64_t main) {
    if (!in_writable_memory(maps, head) || !in_writable_memory(maps, main))
        return false;
    return plausible_interpreter(memory, layout, main) &&
           (head == main || plausible_interpreter(memory, layout, head));
}

} // namespace

bool plausible_interpreter(const RemoteMemory& memory, const PythonLayout& layout, std::uint64_t interp) {
    if (!plausible_pointer(interp))
        return false;
    std::uint64_t tstate =
        read_pointer(memory, interp + static_cast<std::uint64_t>(layout.interp.threads_head));
    if (!plausible_pointer(tstate) ||
        read_pointer(memory, tstate + static_cast<std::uint64_t>(layout.tstate.interp)) != interp)
        return false;
    // When interp.threads_head and tstate.interp are at the same offset (2.7, 3.11), a thread
    // state passes the test above too: require a real thread behind the thread state, and (where
    // we know its offset) the interpreter's modules dict.
    if (!looks_like_pthread(
            memory, read_pointer(memory, tstate + static_cast<std::uint64_t>(layout.tstate.thread_id))))
        return false;
    if (layout.interp.modules != absent)
        return has_type_name(
            memory, read_pointer(memory, interp + static_cast<std::uint64_t>(layout.interp.modules)), "dict");
    return true;
}

std::optional<std::uint64_t> scan_for_entry(const Module& module, const ProcessMaps& maps,
                                            const RemoteMemory& memory, const PythonLayout& layout) {
    if (!module.image)
        return std::nullopt;
    const bool runtime = layout.entry == EntryModel::runtime;
    const std::uint64_t head_offset =
        runtime ? static_cast<std::uint64_t>(layout.runtime.interpreters_head) : 0;
    auto matches = [&](std::uint64_t address, std::uint64_t first, std::uint64_t second) {
        if (!plausible_pointer(first))
            return false;
        if (!runtime)
            return in_writable_memory(maps, first) && plausible_interpreter(memory, layout, first);
        // interpreters.head, then interpreters.main
        return address >= head_offset && plausible_pointer(second) &&
               plausible_runtime(memory, maps, layout, first, second);
    };
    std::uint64_t scanned = 0;
    constexpr std::uint64_t chunk = 64 * 1024;
    std::vector<std::uint8_t> buffer;
    for (const ElfSegment& segment : module.image->load_segments()) {
        if (segment.executable || segment.memsz == 0)
            continue;
        std::uint64_t segment_begin = (module.bias + segment.vaddr) & ~std::uint64_t{7};
        std::uint64_t segment_end = module.bias + segment.vaddr + segment.memsz;
        // The segment spans several mappings (RELRO, data, .bss): scan the writable ones.
        for (const MapEntry& mapping : maps.entries()) {
            std::uint64_t begin = std::max(segment_begin, mapping.start);
            std::uint64_t end = std::min(segment_end, mapping.end);
            if (begin >= end || !mapping.writable || !mapping.readable)
                continue;
            // Chunks overlap by 8 bytes so a (head, main) pair is never split.
            for (std::uint64_t at = begin; at + 16 <= end && scanned < max_scanned_bytes; at += chunk - 8) {
                std::size_t size = static_cast<std::size_t>(std::min(chunk, end - at));
                buffer.assign(size, 0);
                scanned += size;
                if (!memory.read(at, buffer.data(), size))
                    continue;
                for (std::size_t i = 0; i + 16 <= size; i += 8) {
                    std::uint64_t first = 0, second = 0;
                    std::memcpy(&first, buffer.data() + i, 8);
                    std::memcpy(&second, buffer.data() + i + 8, 8);
                    if (matches(at + i, first, second))
                        return runtime ? at + i - head_offset : at + i;
                }
                if (size < chunk)
                    break;
            }
        }
    }
    return std::nullopt;
}

} // namespace sampler::python

#include "module_map.hpp"

#include "module_file.hpp"
#include "sampler/error.hpp"
#include "vdso_image.hpp"

#include <algorithm>
#include <cstring>

namespace sampler {

ModuleMap::ModuleMap(int pid) : pid_(pid), root_("/proc/" + std::to_string(pid) + "/root") {}

std::string ModuleMap::open_path_of(const std::string& path) const {
    auto found = open_paths_.find(path);
    return found != open_paths_.end() ? found->second : root_ + path;
}

ModuleMap::ModuleMap(ProcessMaps maps, std::map<std::string, std::shared_ptr<const ElfImage>> images)
    : maps_(std::move(maps)), images_(std::move(images)) {
    rebuild_modules();
}

bool ModuleMap::refresh() {
    // Once a process has exited its maps file is empty (a zombie) or gone (reaped), yet the
    // samples it left are still to be unwound and named, in its last maps. (So is the file of a
    // thread that ended, the main one after pthread_exit, while the others run on: its last maps
    // stand there too, better than none. And so they do for a process that may no longer be
    // read, after a setuid exec, or when a read fails for want of memory or descriptors: a
    // recording goes on with them.) A pid never read before is an error: nothing stands for it.
    // Whether the process is gone is for the session to tell, by its threads.
    ProcessMaps fresh;
    try {
        fresh = ProcessMaps::read(pid_);
    } catch (const Error&) {
        if (maps_.entries().empty())
            throw;
        return false;
    }
    if (fresh.entries().empty() && !maps_.entries().empty())
        return false;
    if (fresh.text() == maps_.text() && !modules_.empty())
        return false;
    maps_ = std::move(fresh);
    rebuild_modules();
    return true;
}

void ModuleMap::read_through(int tid) {
    const std::string old_proc = "/proc/" + std::to_string(pid_) + "/";
    const std::string new_proc = "/proc/" + std::to_string(tid) + "/";
    pid_ = tid;
    root_ = new_proc + "root";
    // Modules not yet handed to the symbolizer are opened by these paths later; files that could
    // not be opened may have failed through the ended thread.
    for (auto& [path, open_path] : open_paths_)
        if (open_path.starts_with(old_proc))
            open_path.replace(0, old_proc.size(), new_proc);
    failures_.clear();
    rebuild_modules();
}

bool ModuleMap::has_image(const MapEntry& entry) {
    return entry.is_file() || entry.path == vdso_map_name;
}

std::shared_ptr<const ElfImage> ModuleMap::image_for(const MapEntry& entry) {
    if (entry.path == vdso_map_name && pid_ != 0 && !images_.contains(entry.path)) {
        if (own_vdso_image().image)
            images_.emplace(entry.path, own_vdso_image().image);
    }
    auto found = images_.find(entry.path);
    if (found != images_.end())
        return found->second;
    if (pid_ == 0 || failures_.contains(entry.path))
        return nullptr;
    try {
        std::string open_path = mapped_file_open_path(pid_, entry);
        auto image = ElfImage::open(open_path);
        images_.emplace(entry.path, image);
        open_paths_.emplace(entry.path, std::move(open_path));
        return image;
    } catch (const Error& error) {
        failures_.emplace(entry.path, error.what());
        return nullptr;
    }
}

void ModuleMap::rebuild_modules() {
    ++generation_;
    modules_.clear();
    // A file can be mapped more than once: loaded by the dynamic linker, and mmap'ed whole by
    // code that reads it (sampler itself does that). Each mapping at file offset 0 starts a new
    // instance; later mappings of the same file extend the newest instance of it.
    std::map<std::string, std::size_t> newest_instance;
    for (const MapEntry& entry : maps_.entries()) {
        if (!has_image(entry))
            continue;
        auto current = newest_instance.find(entry.path);
        if (current != newest_instance.end() && entry.offset != 0) {
            Module& module = modules_[current->second];
            module.end = std::max(module.end, entry.end);
            continue;
        }
        auto image = image_for(entry);
        if (!image)
            continue;
        Module module;
        module.path = entry.path;
        module.open_path =
            entry.path == vdso_map_name ? own_vdso_image().open_path : open_path_of(entry.path);
        module.image = image;
        module.bias = image->load_bias(entry);
        module.start = entry.start;
        module.end = entry.end;
        newest_instance[entry.path] = modules_.size();
        modules_.push_back(std::move(module));
    }
    // Entries come sorted by address, so modules_ is sorted by start already.
}

const Module* ModuleMap::module_at(std::uint64_t address) const {
    auto it = std::upper_bound(modules_.begin(), modules_.end(), address,
                               [](std::uint64_t a, const Module& m) { return a < m.start; });
    if (it == modules_.begin())
        return nullptr;
    --it;
    return address < it->end ? &*it : nullptr;
}

bool ModuleMap::read_file_backed(std::uint64_t address, void* out, std::size_t size) const {
    const MapEntry* entry = maps_.find(address);
    if (!entry || !has_image(*entry) || address + size > entry->end)
        return false;
    auto found = images_.find(entry->path);
    if (found == images_.end())
        return false;
    std::span<const std::uint8_t> bytes = found->second->bytes();
    std::uint64_t file_offset = address - entry->start + entry->offset;
    if (file_offset > bytes.size() || bytes.size() - file_offset < size)
        return false;
    std::memcpy(out, bytes.data() + file_offset, size);
    return true;
}

} // namespace sampler

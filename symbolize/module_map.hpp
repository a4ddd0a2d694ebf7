#pragma once
// The ELF modules mapped into one target process, each opened once per run through
// /proc/PID/root (so a target in another mount namespace works), or its /proc/PID/map_files
// link when the file there is not the one mapped (see module_file.hpp), and kept mapped here.

#include "elf_image.hpp"
#include "process_maps.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sampler {

struct Module {
    std::string path;      // as the target sees it (from /proc/PID/maps)
    std::string open_path; // where we open it: /proc/PID/root + path, or a map_files link
    std::shared_ptr<const ElfImage> image;
    std::uint64_t bias = 0;  // run-time address minus link-time address
    std::uint64_t start = 0; // lowest mapped address
    std::uint64_t end = 0;   // one past the highest mapped address
    std::string name() const { return path_basename(without_deleted_mark(path)); }
};

class ModuleMap {
  public:
    explicit ModuleMap(int pid);

    // Re-reads the target's maps; opens newly mapped modules. Returns true when the maps changed.
    // Once the process has exited, its last maps stand.
    bool refresh();
    // The maps and files are read through thread `tid` of the same process from now on: the
    // thread they were read through has ended (its /proc entries no longer show them).
    void read_through(int tid);

    const ProcessMaps& maps() const { return maps_; }
    const std::vector<Module>& modules() const { return modules_; }
    const Module* module_at(std::uint64_t address) const;
    // Counts the changes of the modules: a cache keyed by run-time address is valid while it
    // stays the same.
    std::uint64_t generation() const { return generation_; }
    // Files that could not be opened or parsed, with the reason: reported, never fatal.
    const std::map<std::string, std::string>& failures() const { return failures_; }

    // Serves a read of file-backed target memory from our own mapping of the file. Writable
    // mappings are served too: the unwinder reads only personality pointers there, whose
    // values it does not need, and the live process may be running while we unwind.
    bool read_file_backed(std::uint64_t address, void* out, std::size_t size) const;

    // Builds a map from maps text and already-parsed images (tests).
    ModuleMap(ProcessMaps maps, std::map<std::string, std::shared_ptr<const ElfImage>> images);

  private:
    void rebuild_modules();
    static bool has_image(const MapEntry& entry);
    std::shared_ptr<const ElfImage> image_for(const MapEntry& entry);
    std::string open_path_of(const std::string& path) const;

    int pid_ = 0;
    std::string root_;
    ProcessMaps maps_;
    std::vector<Module> modules_; // sorted by start
    std::uint64_t generation_ = 0;
    std::map<std::string, std::shared_ptr<const ElfImage>> images_; // by path
    std::map<std::string, std::string> open_paths_;                 // by path: where it was opened
    std::map<std::string, std::string> failures_;
};

} // namespace sampler

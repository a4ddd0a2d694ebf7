#pragma once
// libelf handles shared by every Symbolizer of the run, by file identity, and separate debug
// files with compressed sections inflated once into an anonymous copy: with --subprocesses,
// each new process (a forked worker, a child per job) has a Symbolizer of its own, and
// inflating libc6-dbg's debug sections again for each was most of sampler's CPU while a parent
// forked children.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

typedef struct Elf Elf;
struct stat;

namespace sampler {

// A reference to one file's shared handle: its holder ends it with elf_end.
struct SharedElf {
    Elf* elf = nullptr;
    // Where its first loadable segment starts (p_vaddr rounded down to p_align) and where its
    // last one ends: the module's addresses are these plus its load bias.
    std::uint64_t first_load = 0;
    std::uint64_t load_end = 0;
};

class SharedElfFiles {
  public:
    // The run's one set.
    static SharedElfFiles& instance();

    SharedElfFiles() = default;
    ~SharedElfFiles();
    SharedElfFiles(const SharedElfFiles&) = delete;
    SharedElfFiles& operator=(const SharedElfFiles&) = delete;

    // The handle of the file at `open_path`, opened on first use; its `elf` carries a reference
    // of the caller's, which the caller gives back with elf_end. Nullopt when the file cannot
    // be opened or is not an ELF file with loadable segments.
    std::optional<SharedElf> acquire(const std::string& open_path);

    // Gives back a user's claim on the file whose handle is `elf` (as acquire returned it), once
    // the user's references are ended: with the last claim the set closes the file, so that a
    // long run over processes that come and go (libraries generated per run, containers per
    // job) holds only the files some process still maps.
    void release(Elf* elf);

    // A separate debug file for libdwfl (its find_debuginfo callback), `fd` open on it (taken
    // over): when it has compressed sections, a descriptor of an anonymous copy with all of them
    // inflated, made once per file; else `fd` itself. -1 when `fd` is.
    int debug_file(int fd);

    // Files held (tests).
    std::size_t size() const { return files_.size(); }

  private:
    // st_dev, st_ino, st_size, st_mtim: a file replaced on disk is another file.
    using Identity = std::tuple<std::uint64_t, std::uint64_t, std::int64_t, std::int64_t, std::int64_t>;
    static Identity identity_of(const struct stat& status);
    struct File {
        int fd = -1;
        SharedElf shared;      // holds the set's own reference
        std::size_t users = 0; // acquired and not yet released
    };
    std::map<Identity, File> files_;
    void forget(std::map<Identity, File>::iterator file);
    // Debug files: the copy's descriptor, -1 when none is needed. Kept for the run: they are the
    // installed debug packages', a bounded set, and libdwfl may hold a copy past any one user.
    std::map<Identity, int> inflated_;
};

} // namespace sampler

#include "shared_elf_files.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sampler {
namespace {

// Where the loadable segments span, as libdwfl reckons a module's addresses from them.
bool load_span(Elf* elf, SharedElf& out) {
    std::size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0)
        return false;
    bool found = false;
    for (std::size_t i = 0; i < count; ++i) {
        GElf_Phdr header;
        if (!gelf_getphdr(elf, static_cast<int>(i), &header) || header.p_type != PT_LOAD)
            continue;
        if (!found) {
            out.first_load = header.p_vaddr & (0 - header.p_align); // libdwfl's reckoning, exactly
            found = true;
        }
        out.load_end = header.p_vaddr + header.p_memsz;
    }
    return found && out.load_end > out.first_load;
}

} // namespace

SharedElfFiles::Identity SharedElfFiles::identity_of(const struct stat& status) {
    return {status.st_dev, status.st_ino, status.st_size, status.st_mtim.tv_sec, status.st_mtim.tv_nsec};
}

SharedElfFiles& SharedElfFiles::instance() {
    static SharedElfFiles files;
    return files;
}

SharedElfFiles::~SharedElfFiles() {
    for (auto& [identity, file] : files_) {
        elf_end(file.shared.elf);
        ::close(file.fd);
    }
    for (auto& [identity, copy] : inflated_)
        if (copy >= 0)
            ::close(copy);
}

namespace {

bool has_compressed_sections(int fd) {
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    bool compressed = false;
    for (Elf_Scn* section = elf ? elf_nextscn(elf, nullptr) : nullptr; section && !compressed;
         section = elf_nextscn(elf, section)) {
        GElf_Shdr header;
        compressed = gelf_getshdr(section, &header) && (header.sh_flags & SHF_COMPRESSED) != 0;
    }
    if (elf)
        elf_end(elf);
    return compressed;
}

// An anonymous file holding the ELF file at `fd` with every compressed section inflated: libelf
// lays the file out anew around the larger sections.
int inflated_copy(int fd, off_t size) {
    const int copy = ::memfd_create("sampler-debug-file", MFD_CLOEXEC);
    if (copy < 0)
        return -1;
    off_t from = 0;
    while (from < size) {
        const ssize_t sent = ::sendfile(copy, fd, &from, static_cast<std::size_t>(size - from));
        if (sent <= 0) {
            ::close(copy);
            return -1;
        }
    }
    Elf* elf = elf_begin(copy, ELF_C_RDWR, nullptr);
    bool ok = elf && elf_kind(elf) == ELF_K_ELF;
    for (Elf_Scn* section = ok ? elf_nextscn(elf, nullptr) : nullptr; section && ok;
         section = elf_nextscn(elf, section)) {
        GElf_Shdr header;
        if (gelf_getshdr(section, &header) && (header.sh_flags & SHF_COMPRESSED) != 0)
            ok = elf_compress(section, 0, 0) >= 0;
    }
    ok = ok && elf_update(elf, ELF_C_WRITE) >= 0;
    if (elf)
        elf_end(elf);
    if (!ok) {
        ::close(copy);
        return -1;
    }
    return copy;
}

} // namespace

int SharedElfFiles::debug_file(int fd) {
    if (fd < 0)
        return fd;
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode))
        return fd;
    const Identity identity = identity_of(status);
    auto found = inflated_.find(identity);
    if (found == inflated_.end()) {
        elf_version(EV_CURRENT);
        found =
            inflated_.emplace(identity, has_compressed_sections(fd) ? inflated_copy(fd, status.st_size) : -1)
                .first;
    }
    if (found->second < 0)
        return fd;
    const int copy = ::dup(found->second);
    if (copy < 0)
        return fd;
    ::close(fd);
    return copy;
}

std::optional<SharedElf> SharedElfFiles::acquire(const std::string& open_path) {
    const int fd = ::open(open_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        ::close(fd);
        return std::nullopt;
    }
    const Identity identity = identity_of(status);
    auto found = files_.find(identity);
    if (found == files_.end()) {
        elf_version(EV_CURRENT);
        // Private and writable, as libdwfl maps its own: inflating a section rewrites its
        // header in place.
        File file;
        file.shared.elf = elf_begin(fd, ELF_C_READ_MMAP_PRIVATE, nullptr);
        if (!file.shared.elf || elf_kind(file.shared.elf) != ELF_K_ELF ||
            !load_span(file.shared.elf, file.shared)) {
            if (file.shared.elf)
                elf_end(file.shared.elf);
            ::close(fd);
            return std::nullopt;
        }
        file.fd = fd;
        found = files_.emplace(identity, file).first;
    } else {
        ::close(fd);
    }
    // The same handle, its count of references raised (libelf does so for a non-archive).
    SharedElf shared = found->second.shared;
    shared.elf = elf_begin(found->second.fd, ELF_C_READ_MMAP_PRIVATE, found->second.shared.elf);
    if (!shared.elf) {
        if (found->second.users == 0)
            forget(found);
        return std::nullopt;
    }
    ++found->second.users;
    return shared;
}

void SharedElfFiles::release(Elf* elf) {
    for (auto file = files_.begin(); file != files_.end(); ++file)
        if (file->second.shared.elf == elf) {
            if (file->second.users > 0 && --file->second.users == 0)
                forget(file);
            return;
        }
}

void SharedElfFiles::forget(std::map<Identity, File>::iterator file) {
    elf_end(file->second.shared.elf);
    ::close(file->second.fd);
    files_.erase(file);
}

} // namespace sampler

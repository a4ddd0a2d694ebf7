#include "vdso_image.hpp"

#include "process_maps.hpp"
#include "sampler/error.hpp"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

namespace sampler {
namespace {

VdsoImage copy_own_vdso() {
    VdsoImage vdso;
    auto start = static_cast<std::uint64_t>(getauxval(AT_SYSINFO_EHDR));
    if (start == 0)
        return vdso;
    const MapEntry* entry = nullptr;
    ProcessMaps maps;
    try {
        maps = ProcessMaps::read(::getpid());
        entry = maps.find(start);
    } catch (const Error&) {
        return vdso;
    }
    if (!entry || entry->path != vdso_map_name)
        return vdso;
    int fd = ::memfd_create("sampler-vdso", MFD_CLOEXEC);
    if (fd < 0)
        return vdso;
    std::size_t size = entry->end - entry->start;
    if (::write(fd, reinterpret_cast<const void*>(start), size) != static_cast<ssize_t>(size)) {
        ::close(fd);
        return vdso;
    }
    // The descriptor stays open for the life of the process: its /proc/self/fd path is the
    // module's file name.
    vdso.open_path = "/proc/self/fd/" + std::to_string(fd);
    try {
        vdso.image = ElfImage::open(vdso.open_path);
    } catch (const Error&) {
        vdso.image = nullptr;
    }
    return vdso;
}

} // namespace

const VdsoImage& own_vdso_image() {
    static const VdsoImage vdso = copy_own_vdso();
    return vdso;
}

} // namespace sampler

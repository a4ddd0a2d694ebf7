#pragma once
// The kernel's vDSO (clock_gettime, gettimeofday, ...) has no file on disk. Every 64-bit process
// on a kernel maps the same image, so we use our own copy, placed in a memfd so libdwfl and the
// unwinder can treat it like any other module.

#include "elf_image.hpp"

#include <memory>
#include <string>

namespace sampler {

inline constexpr const char* vdso_map_name = "[vdso]";

struct VdsoImage {
    std::shared_ptr<const ElfImage> image;
    std::string open_path; // /proc/self/fd/N of the memfd holding it
};

// Our own vDSO, copied once; null image when it cannot be had.
const VdsoImage& own_vdso_image();

} // namespace sampler

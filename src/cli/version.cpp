#include "version.hpp"

#include "git_revision.hpp"

namespace sampler {

std::string version_text() {
    std::string text = std::string("sampler ") + SAMPLER_VERSION + " (git " + SAMPLER_GIT_REVISION + ")\n";
    text += "capture engines: perf_event (the default), ptrace (--capture ptrace, --blocking, dump, and the "
            "fallback when perf events are refused)\n";
#ifdef SAMPLER_SELF_CONTAINED_BUILD
    text += "self-contained: links only glibc's own libraries";
#else
    text += "linked against the system's shared libdw, libelf, libunwind, ncurses and zlib";
#endif
    return text;
}

} // namespace sampler

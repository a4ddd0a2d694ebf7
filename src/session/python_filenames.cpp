#include "python_filenames.hpp"

#include <unistd.h>

namespace sampler {
namespace {

// Returns the part after the last `/marker/` in `path`, or empty when the marker is absent.
std::string after_last(const std::string& path, const std::string& marker) {
    std::size_t at = path.rfind(marker);
    return at == std::string::npos ? std::string() : path.substr(at + marker.size());
}

std::string after_stdlib_dir(const std::string& path) {
    // `/lib/python3.11/` or `/lib/python2.7/`: the standard library's root.
    for (std::size_t at = path.rfind("/lib/python"); at != std::string::npos && at > 0;
         at = path.rfind("/lib/python", at - 1)) {
        std::size_t slash = path.find('/', at + 11);
        if (slash != std::string::npos)
            return path.substr(slash + 1);
    }
    return {};
}

std::string parent_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos || slash == 0 ? std::string() : path.substr(0, slash);
}

} // namespace

const std::string& PythonFilenames::shorten(const std::string& path) {
    auto found = cache_.find(path);
    if (found != cache_.end())
        return found->second;
    return cache_.emplace(path, compute(path)).first->second;
}

bool PythonFilenames::is_package(const std::string& directory) const {
    return ::access((root_ + directory + "/__init__.py").c_str(), F_OK) == 0;
}

std::string PythonFilenames::compute(const std::string& path) const {
    if (path.empty() || path.front() != '/')
        return path; // `<string>`, `<frozen importlib._bootstrap>`, relative names
    for (const char* marker : {"/site-packages/", "/dist-packages/"})
        if (std::string rest = after_last(path, marker); !rest.empty())
            return rest;
    if (std::string rest = after_stdlib_dir(path); !rest.empty())
        return rest;
    // Climb while the directory is a package: the path below the first non-package directory
    // is what `import` would call it. Bounded by the path's depth.
    std::string top = parent_of(path);
    for (std::string directory = top; !directory.empty() && is_package(directory);
         directory = parent_of(directory))
        top = parent_of(directory);
    return top.empty() ? path.substr(1) : path.substr(top.size() + 1);
}

} // namespace sampler

#pragma once
// Python file names as users read them: `json/encoder.py`, `fastapi/routing.py`, `app/main.py`,
// rather than the full path of an installation. Cached per path.

#include <string>
#include <unordered_map>

namespace sampler {

class PythonFilenames {
  public:
    // `root` is prepended when checking the file system (/proc/PID/root for a target in another
    // mount namespace; empty for tests on local paths).
    explicit PythonFilenames(std::string root) : root_(std::move(root)) {}

    // The package-relative path: below site-packages / dist-packages / lib/pythonX.Y when the
    // file lives there; otherwise from the outermost directory that is a package (holds an
    // __init__.py) down; otherwise the file's own name. Pseudo names (`<string>`) stay as they are.
    const std::string& shorten(const std::string& path);
    // The file system is checked through `root` from now on (the target's thread it was seen
    // through ended).
    void set_root(std::string root) {
        root_ = std::move(root);
        cache_.clear(); // names found when the old root no longer led anywhere
    }

  private:
    std::string compute(const std::string& path) const;
    bool is_package(const std::string& directory) const;

    std::string root_;
    std::unordered_map<std::string, std::string> cache_;
};

} // namespace sampler

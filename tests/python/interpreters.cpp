#include "interpreters.hpp"

#include "child_process.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace sampler::testing {
namespace {

namespace fs = std::filesystem;

std::string pyenv_root() {
    static const std::string root = [] {
        // Set, it is the answer, as for pyenv itself: pointing it elsewhere (or nowhere) must
        // not fall back to another installation.
        if (const char* env = std::getenv("PYENV_ROOT"); env && *env)
            return std::string(env);
        // `pyenv` from PATH first, then where the installer puts it.
        for (const char* candidate : {"pyenv", "/root/.pyenv/bin/pyenv"}) {
            RunResult result =
                run_command({"/bin/sh", "-c", std::string(candidate) + " root"}, std::chrono::seconds(20));
            std::string out = result.out;
            while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
                out.pop_back();
            if (result.exit_code == 0 && fs::is_directory(out))
                return out;
        }
        return std::string("/root/.pyenv");
    }();
    return root;
}

// "3.11.7" sorts after "3.11.10"? Compare numerically by patch.
int patch_of(const std::string& version) {
    std::size_t dot = version.rfind('.');
    return dot == std::string::npos ? 0 : std::atoi(version.c_str() + dot + 1);
}

} // namespace

std::optional<Interpreter> find_pyenv_interpreter(const std::string& minor_version) {
    fs::path versions = fs::path(pyenv_root()) / "versions";
    std::error_code error;
    if (!fs::is_directory(versions, error))
        return std::nullopt;
    std::vector<std::string> matches;
    for (const auto& entry : fs::directory_iterator(versions, error)) {
        std::string name = entry.path().filename().string();
        if (name.rfind(minor_version + ".", 0) == 0 &&
            name.find_first_not_of("0123456789", minor_version.size() + 1) == std::string::npos &&
            fs::exists(entry.path() / "bin" / "python"))
            matches.push_back(name);
    }
    if (matches.empty())
        return std::nullopt;
    std::sort(matches.begin(), matches.end(),
              [](const std::string& a, const std::string& b) { return patch_of(a) < patch_of(b); });
    fs::path prefix = versions / matches.back();
    return Interpreter{minor_version, (prefix / "bin" / "python").string(), prefix.string()};
}

std::optional<Interpreter> find_debian_python311() {
    if (!fs::exists("/usr/bin/python3.11"))
        return std::nullopt;
    return Interpreter{"debian-3.11", "/usr/bin/python3.11", ""};
}

std::vector<Interpreter> test_interpreters(const std::vector<std::string>& labels,
                                           std::vector<std::string>& missing) {
    const char* wanted = std::getenv("SAMPLER_TEST_PYTHONS");
    const std::string list = wanted && *wanted ? std::string(",") + wanted + "," : std::string();
    std::vector<Interpreter> found;
    for (const std::string& label : labels) {
        if (!list.empty() && list.find("," + label + ",") == std::string::npos)
            continue;
        auto interpreter = label == "debian-3.11" ? find_debian_python311() : find_pyenv_interpreter(label);
        if (interpreter)
            found.push_back(*interpreter);
        else
            missing.push_back(label);
    }
    return found;
}

std::optional<std::string> pyenv_libpython(const Interpreter& interpreter) {
    if (interpreter.prefix.empty())
        return std::nullopt;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(fs::path(interpreter.prefix) / "lib", error)) {
        std::string name = entry.path().filename().string();
        if (name.rfind("libpython", 0) == 0 && name.size() > 9 && name.find(".so.1.0") != std::string::npos)
            return entry.path().string();
    }
    return std::nullopt;
}

} // namespace sampler::testing

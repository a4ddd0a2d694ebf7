#pragma once
// The CPython interpreters the tests run against: pyenv builds (in $PYENV_ROOT when it is set,
// else where `pyenv root` or /root/.pyenv says) and Debian's /usr/bin/python3.11.

#include <optional>
#include <string>
#include <vector>

namespace sampler::testing {

struct Interpreter {
    std::string label;      // "3.11", "debian-3.11"
    std::string executable; // absolute path
    std::string prefix;     // installation prefix (pyenv: versions/X.Y.Z); empty for Debian's
};

// The pyenv build of minor version `minor_version` ("3.11"), the newest patch installed.
std::optional<Interpreter> find_pyenv_interpreter(const std::string& minor_version);
std::optional<Interpreter> find_debian_python311();

// The interpreters with these labels ("2.7", "3.12", "debian-3.11") that this machine has, in
// that order, narrowed by SAMPLER_TEST_PYTHONS (e.g. "2.7,3.13,debian-3.11": the sanitizer
// build runs a few). Labels selected but not installed go to `missing`, for the caller to say.
std::vector<Interpreter> test_interpreters(const std::vector<std::string>& labels,
                                           std::vector<std::string>& missing);

// The libpython of a pyenv build, when it ships one.
std::optional<std::string> pyenv_libpython(const Interpreter& interpreter);

} // namespace sampler::testing

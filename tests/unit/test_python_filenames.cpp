#include "python_filenames.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace sampler;

TEST_CASE("installed packages and the standard library shorten to their import paths") {
    PythonFilenames names("");
    CHECK(names.shorten("/usr/lib/python3.11/json/encoder.py") == "json/encoder.py");
    CHECK(names.shorten("/root/.pyenv/versions/2.7.18/lib/python2.7/threading.py") == "threading.py");
    CHECK(names.shorten("/srv/venv/lib/python3.12/site-packages/fastapi/routing.py") == "fastapi/routing.py");
    CHECK(names.shorten("/usr/lib/python3/dist-packages/yaml/__init__.py") == "yaml/__init__.py");
    CHECK(names.shorten("<string>") == "<string>");
    CHECK(names.shorten("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>");
}

TEST_CASE("application files shorten to their package-relative path") {
    namespace fs = std::filesystem;
    fs::path base = fs::temp_directory_path() / ("sampler-names-" + std::to_string(::getpid()));
    fs::create_directories(base / "app" / "api");
    std::ofstream(base / "app" / "__init__.py").put('\n');
    std::ofstream(base / "app" / "api" / "__init__.py").put('\n');
    PythonFilenames names("");
    CHECK(names.shorten((base / "app" / "api" / "views.py").string()) == "app/api/views.py");
    CHECK(names.shorten((base / "script.py").string()) == "script.py");
    // Cached: removing the package afterwards does not change an answer already given.
    fs::remove_all(base);
    CHECK(names.shorten((base / "app" / "api" / "views.py").string()) == "app/api/views.py");
}

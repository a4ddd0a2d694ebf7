#pragma once
// Tests that check our files with the real consumers (go tool pprof, speedscope's schema,
// Chromium) fetch those tools themselves, and skip with a printed reason when they cannot.

#include <string>
#include <vector>

namespace sampler::testing {

struct ToolResult {
    bool ok = false;
    std::string reason; // why not, when !ok
};

// `command` on PATH, or else apt-get install `package` when running as root.
ToolResult ensure_debian_tool(const std::string& command, const std::string& package);

// A directory whose node_modules holds `packages`, each a name or name@version (npm install, once
// per user and package set; reused afterwards). The directory is returned in `reason` when ok.
ToolResult ensure_npm_packages(const std::vector<std::string>& packages);

struct ShellResult {
    int status = -1; // exit code; -1 when it could not run
    std::string out; // stdout and stderr together
};
ShellResult run_shell(const std::string& command);

std::string write_temp_file(const std::string& name, const std::string& bytes);
std::string shell_quote(const std::string& text);

} // namespace sampler::testing

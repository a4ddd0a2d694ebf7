#include "external_tools.hpp"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace sampler::testing {

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return quoted + "'";
}

ShellResult run_shell(const std::string& command) {
    ShellResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe)
        return result;
    std::array<char, 4096> buffer{};
    std::size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.out.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

ToolResult ensure_debian_tool(const std::string& command, const std::string& package) {
    if (run_shell("command -v " + command).status == 0)
        return {true, ""};
    if (::geteuid() != 0)
        return {false, command + " not found and not root, so cannot apt-get install " + package};
    // Waits for the dpkg lock rather than failing when another test is installing something.
    const std::string install_command = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                                        "-o DPkg::Lock::Timeout=300 --no-install-recommends " +
                                        package;
    ShellResult install = run_shell(install_command);
    // A fresh machine may have no package lists yet, or stale ones naming files the mirror dropped.
    if (install.status != 0 && run_shell("apt-get update -qq -o DPkg::Lock::Timeout=300").status == 0)
        install = run_shell(install_command);
    if (install.status != 0 || run_shell("command -v " + command).status != 0)
        return {false, "apt-get install " + package + " failed: " + install.out.substr(0, 400)};
    return {true, ""};
}

namespace {

// "name" of "name@version" or "@scope/name@version".
std::string package_name(const std::string& spec) {
    const std::size_t at = spec.find('@', 1);
    return at == std::string::npos ? spec : spec.substr(0, at);
}

} // namespace

ToolResult ensure_npm_packages(const std::vector<std::string>& packages) {
    std::string key;
    for (const std::string& package : packages)
        key += "-" + package;
    const auto dir =
        std::filesystem::temp_directory_path() / ("sampler-test-npm-" + std::to_string(::geteuid()) + key);
    bool present = true;
    for (const std::string& package : packages)
        present =
            present && std::filesystem::exists(dir / "node_modules" / package_name(package) / "package.json");
    if (present)
        return {true, dir.string()};
    if (run_shell("command -v npm && command -v node").status != 0)
        return {false, "node/npm not found"};
    std::filesystem::create_directories(dir);
    std::string command =
        "cd " + shell_quote(dir.string()) + " && timeout 300 npm install --no-audit --no-fund";
    for (const std::string& package : packages)
        command += " " + shell_quote(package);
    const ShellResult install = run_shell(command);
    if (install.status != 0)
        return {false, "npm install failed: " + install.out.substr(0, 400)};
    return {true, dir.string()};
}

std::string write_temp_file(const std::string& name, const std::string& bytes) {
    const auto path =
        std::filesystem::temp_directory_path() / ("sampler-test-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
    return path.string();
}

} // namespace sampler::testing

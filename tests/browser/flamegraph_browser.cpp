// CTest entry for the flame graph in a real browser: renders names.folded with the built sampler,
// makes sure Debian's Chromium and Node and npm's playwright-core are there (installing what is
// missing), and runs flamegraph_browser.js on the SVG. When an install fails it prints why and
// exits with skip_status, which CMake registers as the test's SKIP_RETURN_CODE.
//
// usage: flamegraph_browser_test SAMPLER SOURCE_DIR OUTPUT_SVG

#include "../unit/external_tools.hpp"

#include <iostream>
#include <string>
#include <utility>

using namespace sampler::testing;

namespace {

constexpr int skip_status = 77;

// The newest playwright-core whose engines still accept Debian 12's Node 18; pinned so that a
// new release cannot change what this test drives under it.
constexpr const char* playwright_package = "playwright-core@1.61.0";

int skip(const std::string& reason) {
    std::cout << "SKIPPED: " << reason << "\n";
    return skip_status;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " SAMPLER SOURCE_DIR OUTPUT_SVG\n";
        return 2;
    }
    const std::string sampler = argv[1];
    const std::string browser_dir = std::string(argv[2]) + "/tests/browser";
    const std::string svg = argv[3];

    // Rendering comes first: if sampler cannot write the file, that is a failure, not a skip.
    const ShellResult render =
        run_shell(shell_quote(sampler) + " flamegraph " + shell_quote(browser_dir + "/names.folded") +
                  " -o " + shell_quote(svg));
    if (render.status != 0) {
        std::cout << "FAIL: sampler flamegraph exited " << render.status << ":\n" << render.out;
        return 1;
    }

    const std::pair<const char*, const char*> tools[] = {
        {"chromium", "chromium"}, {"node", "nodejs"}, {"npm", "npm"}};
    for (const auto& [command, package] : tools) {
        const ToolResult tool = ensure_debian_tool(command, package);
        if (!tool.ok)
            return skip(tool.reason);
    }
    const ToolResult npm = ensure_npm_packages({playwright_package});
    if (!npm.ok)
        return skip(npm.reason);

    const ShellResult chromium = run_shell("command -v chromium");
    const std::string chromium_path = chromium.out.substr(0, chromium.out.find('\n'));
    const ShellResult run = run_shell("NODE_PATH=" + shell_quote(npm.reason + "/node_modules") + " node " +
                                      shell_quote(browser_dir + "/flamegraph_browser.js") + " " +
                                      shell_quote(chromium_path) + " " + shell_quote(svg));
    std::cout << run.out;
    return run.status == 0 ? 0 : 1;
}

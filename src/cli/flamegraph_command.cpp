// `sampler flamegraph INPUT`: renders any flamegraph.pl-compatible folded file as our SVG.
#include "commands.hpp"

#include "output_file.hpp"

#include "flamegraph_svg.hpp"
#include "folded_reader.hpp"
#include "sampler/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

namespace sampler {

namespace {

std::string read_input(const std::string& path) {
    if (path == "-")
        return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    struct stat file {};
    if (::stat(path.c_str(), &file) == 0 && S_ISDIR(file.st_mode))
        throw Error(ErrorKind::io, "cannot read " + path + ": it is a directory, not a folded stacks file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(ErrorKind::io, "cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// Why nothing usable came out of `text`, which held no samples.
std::string nothing_read(const std::string& name, const std::string& text, const FoldedInput& input) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        return name + " is empty: expected folded stacks, lines of 'frame;frame;... COUNT'";
    if (input.lines == 0)
        return name + " holds no folded stacks: all " + std::to_string(input.malformed) +
               " lines are malformed (the first is line " + std::to_string(input.first_malformed_line) +
               "); expected lines of 'frame;frame;... COUNT'";
    return name + " holds no samples: every stack's count is 0";
}

} // namespace

FoldedInput read_folded_file(const std::string& path) {
    const std::string name = path == "-" ? "stdin" : path;
    const std::string text = read_input(path);
    if (std::string_view format = other_format(text); !format.empty())
        throw Error(ErrorKind::io, name + " is " + std::string(format) + ", not folded stacks");
    FoldedInput input = read_folded(text);
    if (input.too_large_line != 0)
        throw Error(ErrorKind::io, name + ": line " + std::to_string(input.too_large_line) +
                                       ": its count takes the total past 2^53 samples, more than any real "
                                       "profile holds");
    if (input.profile.tree.total() == 0)
        throw Error(ErrorKind::io, nothing_read(name, text, input));
    // Reported, not fatal: one bad line in a large capture should not lose the rest.
    if (input.malformed > 0)
        std::fprintf(stderr, "sampler: %s: skipped %llu malformed line%s (first: line %llu)\n", name.c_str(),
                     (unsigned long long)input.malformed, input.malformed == 1 ? "" : "s",
                     (unsigned long long)input.first_malformed_line);
    return input;
}

FlamegraphOptions flamegraph_options(const RenderOptions& render, const std::string& default_title) {
    FlamegraphOptions options;
    options.title = render.title.empty() ? default_title : render.title;
    options.inverted = render.inverted;
    options.min_width_pixels = render.min_width_pixels;
    return options;
}

int run_flamegraph(const FlamegraphCommandOptions& options) {
    check_output_path(options.render.output);
    const FoldedInput input = read_folded_file(options.input);
    const std::string title = "sampler: " + (options.input == "-" ? std::string("stdin") : options.input);
    write_output_file(options.render.output,
                      render_flamegraph_svg(input.profile, flamegraph_options(options.render, title)));
    if (options.render.output != "-")
        std::fprintf(stderr, "sampler: wrote flame graph of %llu samples to %s\n",
                     (unsigned long long)input.profile.tree.total(), options.render.output.c_str());
    return 0;
}

} // namespace sampler

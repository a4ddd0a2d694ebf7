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

namespace sampler {

FoldedInput read_folded_file(const std::string& path) {
    std::string text;
    if (path == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            throw Error(ErrorKind::io, "cannot read " + path + ": " + std::strerror(errno));
        std::ostringstream buffer;
        buffer << in.rdbuf();
        text = buffer.str();
    }
    FoldedInput input = read_folded(text);
    // Reported, not fatal: one bad line in a large capture should not lose the rest.
    if (input.malformed > 0)
        std::fprintf(stderr, "sampler: %s: skipped %llu malformed line%s (first: line %llu)\n",
                     path == "-" ? "stdin" : path.c_str(), (unsigned long long)input.malformed,
                     input.malformed == 1 ? "" : "s", (unsigned long long)input.first_malformed_line);
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

// `sampler diff BEFORE AFTER`: a differential flame graph of two folded files.
#include "commands.hpp"

#include "output_file.hpp"

#include "flamegraph_svg.hpp"
#include "folded_reader.hpp"
#include "sampler/error.hpp"

#include <cstdio>

namespace sampler {

int run_diff(const DiffOptions& options) {
    if (options.before == "-" && options.after == "-")
        throw Error(ErrorKind::usage, "only one of BEFORE and AFTER can be '-' (stdin)");
    check_output_path(options.render.output);
    const FoldedInput before = read_folded_file(options.before);
    const FoldedInput after = read_folded_file(options.after);
    FlamegraphOptions flamegraph =
        flamegraph_options(options.render, "sampler diff: " + options.before + " -> " + options.after);
    flamegraph.before = &before.profile;
    write_output_file(options.render.output, render_flamegraph_svg(after.profile, flamegraph));
    if (options.render.output != "-")
        std::fprintf(stderr, "sampler: wrote differential flame graph (%llu -> %llu samples) to %s\n",
                     (unsigned long long)before.profile.tree.total(),
                     (unsigned long long)after.profile.tree.total(), options.render.output.c_str());
    return 0;
}

} // namespace sampler

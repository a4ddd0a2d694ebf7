#include "cli.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
    try {
        return sampler::run_cli(argc, argv);
    } catch (const std::exception& error) {
        // Every thread was already resumed when this unwinds: captures never outlive a sample.
        std::fprintf(stderr, "sampler: internal error: %s\n", error.what());
        return 8;
    }
}

#pragma once
// The record unwind/capture/bpf/python_walk.bpf.c writes for a sample, made in user space from
// a memory image by the same steps: lets the reader's side of the kernel walk be tested on
// every layout without loading the program.

#include "python_walk_abi.h"
#include "remote_memory.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace sampler::testing {

// nullopt where the program hands the sample back: the thread_id word does not match, a word
// cannot be read, or the chain is longer than layout.max_frames.
std::optional<std::vector<std::uint8_t>> kernel_walk_record(const pw_layout& layout,
                                                            const RemoteMemory& memory,
                                                            std::uint64_t thread_state,
                                                            std::uint64_t thread_id, int tid);

} // namespace sampler::testing

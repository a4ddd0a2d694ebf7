#pragma once
// The compiled BPF program (bpf/python_walk.bpf.c), embedded in sampler by
// bpf/embed_object.cmake: the bytes of its ELF object.

#include <cstddef>

namespace sampler::embedded {
extern const unsigned char python_walk_object[];
extern const std::size_t python_walk_object_size;
} // namespace sampler::embedded

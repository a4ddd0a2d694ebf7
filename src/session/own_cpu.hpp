#pragma once
// sampler's own CPU time, as the kernel counts it: what a sample costs the machine.

namespace sampler {

// This process's user + system CPU time so far, in seconds.
double own_cpu_seconds();

} // namespace sampler

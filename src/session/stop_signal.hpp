#pragma once
// Ctrl-C, SIGTERM and SIGHUP ask the profiler to stop sampling and write what it has.

#include <chrono>

namespace sampler {

void install_stop_handlers();
bool stop_requested();
int stop_signal_number(); // 0 when none arrived
// Sleeps until `deadline` or until a stop signal arrives.
void sleep_until(std::chrono::steady_clock::time_point deadline);

} // namespace sampler

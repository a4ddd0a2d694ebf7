#pragma once
// Ctrl-C, SIGTERM and SIGHUP ask the profiler to stop sampling and write what it has.

#include <chrono>
#include <csignal>

namespace sampler {

void install_stop_handlers();
bool stop_requested();
int stop_signal_number(); // 0 when none arrived
// Sleeps until `deadline` or until a stop signal arrives.
void sleep_until(std::chrono::steady_clock::time_point deadline);

// While alive, stop signals wait (in this thread): one that came meanwhile acts when it goes
// away. For steps that must not be cut in half, such as writing and renaming an output file.
class StopSignalsDeferred {
  public:
    StopSignalsDeferred();
    ~StopSignalsDeferred();
    StopSignalsDeferred(const StopSignalsDeferred&) = delete;
    StopSignalsDeferred& operator=(const StopSignalsDeferred&) = delete;

  private:
    sigset_t saved_;
};

} // namespace sampler

#pragma once
// The full-screen view of `sampler top` (ncurses). Constructing it takes over the terminal;
// destroying it, on any path including exceptions, gives the terminal back as it was.

#include "top_display.hpp"
#include "top_stderr.hpp"

namespace sampler {

class TopScreen : public TopDisplay {
  public:
    TopScreen(); // throws sampler::Error when the terminal cannot be driven
    ~TopScreen() override;
    TopScreen(const TopScreen&) = delete;
    TopScreen& operator=(const TopScreen&) = delete;

    bool interactive() const override { return true; }
    int read_key() override;
    bool show(const TopStatus& status, const TopSnapshot& snapshot, bool help) override;

  private:
    // Declared first so that it is destroyed last: stderr comes back after the terminal does.
    TopStderrCapture stderr_capture_;
    void* screen_ = nullptr; // ncurses SCREEN*, kept opaque so its macros stay in the .cpp
};

} // namespace sampler

#pragma once
// While the full-screen view is up, anything written to stderr (e.g. the session's "cannot
// keep up" warnings) would scribble over it. This sends stderr to a temporary file instead and,
// when it goes away, puts stderr back and replays the last messages, so none is lost for good.

#include <cstdio>

namespace sampler {

class TopStderrCapture {
  public:
    TopStderrCapture();
    ~TopStderrCapture();
    TopStderrCapture(const TopStderrCapture&) = delete;
    TopStderrCapture& operator=(const TopStderrCapture&) = delete;

  private:
    std::FILE* file_ = nullptr; // null when capturing was not possible: stderr left alone
    int saved_fd_ = -1;
};

} // namespace sampler

#pragma once
// `sampler top` when stdout is not a terminal: each refresh appends a plain-text snapshot (the
// header and the first rows of the table), so it works in logs, pipes and scripts.

#include "top_display.hpp"

#include <cstddef>
#include <cstdio>

namespace sampler {

class TopPlainText : public TopDisplay {
  public:
    TopPlainText(std::FILE* out, std::size_t max_rows) : out_(out), max_rows_(max_rows) {}
    bool interactive() const override { return false; }
    bool show(const TopStatus& status, const TopSnapshot& snapshot, bool help) override;
    int output_error() const override { return error_; }

  private:
    std::FILE* out_;
    std::size_t max_rows_;
    int error_ = 0;
};

} // namespace sampler

#pragma once
// Where `sampler top` shows its table: the full-screen terminal UI or plain text on stdout.

#include "top_counts.hpp"
#include "top_header.hpp"

namespace sampler {

// Keys as read_key() returns them: characters, or one of these.
constexpr int top_no_key = -1;
constexpr int top_resize_key = -2;
constexpr int top_up_key = -3;
constexpr int top_down_key = -4;
constexpr int top_enter_key = -5;

class TopDisplay {
  public:
    virtual ~TopDisplay() = default;
    virtual bool interactive() const = 0;
    // The next key pressed, or top_no_key; never blocks, since sampling goes on meanwhile.
    virtual int read_key() { return top_no_key; }
    // Shows the header and the table of `snapshot` as `status.view` says, with the help over
    // it when `help`. Returns false when output is no longer possible (a closed pipe).
    virtual bool show(const TopStatus& status, const TopSnapshot& snapshot, bool help) = 0;
    // After show() returned false: why (an errno value), or 0 when unknown.
    virtual int output_error() const { return 0; }
};

} // namespace sampler

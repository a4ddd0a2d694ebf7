#pragma once
// The one exception type of sampler: a message for the user plus the exit code it maps to.
// Thrown for fatal conditions only; per-sample failures are counted, never thrown to main.

#include <stdexcept>
#include <string>

namespace sampler {

enum class ErrorKind {
    usage = 2, // bad flag or value
    no_such_process = 3,
    permission = 4,
    already_traced = 5,
    unsupported = 6,
    io = 7,
    internal = 8,
    // Our output went to a pipe whose reader has gone (`| head`): not reported, and the exit code
    // a shell shows for tools that SIGPIPE killed.
    output_closed = 141,
};

class Error : public std::runtime_error {
  public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const { return kind_; }
    int exit_code() const { return static_cast<int>(kind_); }

  private:
    ErrorKind kind_;
};

} // namespace sampler

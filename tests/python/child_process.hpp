#pragma once
// Processes the Python tests start: always killed and reaped when the test ends, pass or fail.

#include <chrono>
#include <string>
#include <vector>

namespace sampler::testing {

class Child {
  public:
    // Starts argv[0] (a path) with stdout and stderr sent to `output_path` (empty: /dev/null).
    Child(const std::vector<std::string>& argv, const std::string& output_path = {});
    ~Child(); // SIGKILL + waitpid when still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    int pid() const { return pid_; }
    bool running();
    // The exit status (128 + signal when killed), or -1 when it did not end within `timeout`.
    int wait(std::chrono::milliseconds timeout);

  private:
    int pid_ = -1;
    bool reaped_ = false;
    int status_ = -1;
};

struct RunResult {
    int exit_code = -1; // -1: timed out (and killed)
    std::string out;
};

// Runs a command to completion (killed after `timeout`), returning its stdout (stderr appended
// when `with_stderr`).
RunResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      bool with_stderr = false);

std::string read_text_file(const std::string& path);
// A fresh path under $TMPDIR (or /tmp) that no other test uses; removed by the caller.
std::string unique_temp_path(const std::string& stem);

} // namespace sampler::testing

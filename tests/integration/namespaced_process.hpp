#pragma once
// A fixture started in namespaces of its own by unshare(1), as in a container, and profiled
// from here by the PID we see. Always killed and reaped: the inner program first, which lets
// the processes between (unshare, a shell) reap it and exit, then those.

#include "process_helpers.hpp"

#include <string>
#include <vector>

namespace sampler::testing {

// Why namespace tests cannot run here (not root, no unshare); empty when they can.
std::string namespaces_unavailable();

class NamespacedProcess {
  public:
    // Runs `unshare UNSHARE_ARGS... --kill-child COMMAND...`, then waits (up to 10 s) for a
    // descendant whose executable is `program` (as the namespace sees its path) to start.
    NamespacedProcess(const std::vector<std::string>& unshare_args, const std::vector<std::string>& command,
                      const std::string& program);
    ~NamespacedProcess();
    NamespacedProcess(const NamespacedProcess&) = delete;
    NamespacedProcess& operator=(const NamespacedProcess&) = delete;

    // The program's PID as we see it; 0 when it did not start (see errors()).
    int pid() const { return pid_; }
    // Its PID as its own namespace sees it (the last of NSpid).
    int inner_pid() const;
    std::string errors() const { return wrapper_.errors(); }

  private:
    ChildProcess wrapper_;
    int pid_ = 0;
};

} // namespace sampler::testing

#pragma once
// The names Python's `threading` gives a target's threads, kept between sampling rounds: read
// while the target runs (before any thread is stopped), at most once a second, sooner when a
// thread appears that the last read did not see. Threads without a Python name keep their OS
// name.

#include "python_reader.hpp"
#include "remote_memory.hpp"

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sampler {

class PythonThreadNames {
  public:
    // Reads the names again when they are stale; `tids` are the threads listed this round.
    void refresh(PythonReader& reader, const RemoteMemory& memory, const std::vector<int>& tids);
    // The Python name of `tid`; nullptr when it has none.
    const std::string* find(int tid) const;

  private:
    bool stale(const std::vector<int>& tids) const;

    std::unordered_map<int, std::string> names_;
    std::unordered_set<int> listed_; // the threads listed when the names were last read
    std::chrono::steady_clock::time_point read_at_{};
};

} // namespace sampler

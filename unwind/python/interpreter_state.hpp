#pragma once
// Interpreters and their thread states in the target: listing them, the OS thread id of each,
// where each thread's frame chain starts, and which thread holds the GIL. Lists are bounded and
// loop-checked; a field that cannot be read yields 0.

#include "namespace_tids.hpp"
#include "python_target.hpp"
#include "remote_memory.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace sampler::python {

inline constexpr std::size_t max_interpreters = 256;

// The fields of one PyThreadState a stack reader needs, from one read.
struct ThreadStateFields {
    std::uint64_t address = 0;
    std::uint64_t next = 0;
    std::uint64_t interp = 0;
    std::uint64_t frame = 0;            // the `frame`/`cframe`/`current_frame` field, not yet followed
    std::uint64_t thread_id = 0;        // pthread_t
    std::uint64_t native_thread_id = 0; // 3.11+
};

// Interpreter addresses, newest first; `errors` counts a list that loops.
std::vector<std::uint64_t> list_interpreters(const PythonTarget& target, const RemoteMemory& memory,
                                             std::uint64_t& errors);

// The thread states of one interpreter, newest first. A state whose `interp` does not point back
// at the interpreter ends the list and counts as an error.
std::vector<ThreadStateFields> list_thread_states(const PythonTarget& target, const RemoteMemory& memory,
                                                  std::uint64_t interp, std::size_t max_threads,
                                                  std::uint64_t& errors);

// Re-reads the thread state at `address`; false when it cannot be read.
bool read_thread_state(const PythonTarget& target, const RemoteMemory& memory, std::uint64_t address,
                       ThreadStateFields& out);

// Our id of the state's thread (the interpreter records the id the target sees, which in a
// PID namespace is not ours: `tids` maps it); 0 when it cannot be told.
int thread_state_tid(const PythonTarget& target, const RemoteMemory& memory, const ThreadStateFields& state,
                     NamespaceTids& tids);

// The innermost frame's address (following 3.11/3.12's _PyCFrame); 0 when none.
std::uint64_t innermost_frame(const PythonTarget& target, const RemoteMemory& memory,
                              const ThreadStateFields& state);

// The PyThreadState* holding the GIL that `interp` runs under; 0 when released or unknown.
std::uint64_t gil_holder(const PythonTarget& target, const RemoteMemory& memory, std::uint64_t interp);

// The words that say who holds the GIL `interp` runs under, found once: the GIL's state does not
// move, so a sampler can read them with its other words at each sample, no pointer to follow.
// `holder` names the holder's PyThreadState*; `locked` (3.12+, else 0) says whether it is held.
struct GilWords {
    std::uint64_t holder = 0;
    std::uint64_t locked = 0;
};
// nullopt when the interpreter cannot tell (no symbol for it) or has no GIL yet.
std::optional<GilWords> find_gil_words(const PythonTarget& target, const RemoteMemory& memory,
                                       std::uint64_t interp);
// The holder, from the values read at those words (`locked_value` ignored without a locked word).
std::uint64_t gil_holder_from(const GilWords& words, std::uint64_t holder_value, std::int32_t locked_value);

} // namespace sampler::python

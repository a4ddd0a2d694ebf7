#pragma once
// Profiles made the way `record` makes them (through ProfileBuilder), with chosen threads,
// stacks and sample times, for the writers' tests.

#include "profile_builder.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace sampler::testing {

inline Frame native_frame(std::string name, bool inlined = false) {
    Frame frame;
    frame.kind = FrameKind::native;
    frame.name = std::move(name);
    frame.inlined = inlined;
    return frame;
}

inline Frame python_frame(std::string name, std::string file, std::uint32_t line) {
    Frame frame;
    frame.kind = FrameKind::python;
    frame.name = std::move(name);
    frame.file = std::move(file);
    frame.line = line;
    return frame;
}

inline ThreadInfo thread_info(int pid, int tid, std::string name) {
    ThreadInfo thread;
    thread.pid = pid;
    thread.tid = tid;
    thread.name = std::move(name);
    thread.state = 'R';
    return thread;
}

class RecordedProfile : public ProfileBuilder {
  public:
    explicit RecordedProfile(Profile& profile, bool timeline = true)
        : RecordedProfile(profile, AggregationOptions{.record_timeline = timeline, .pprof_details = true}) {}
    RecordedProfile(Profile& profile, AggregationOptions options)
        : ProfileBuilder(profile, options), base_(std::chrono::steady_clock::now()) {}

    // A stack (innermost first) of `thread` sampled `millis` after the start.
    void sample(const ThreadInfo& thread, const std::vector<Frame>& innermost_first, int millis) {
        add_stack_at(thread, innermost_first, base_ + std::chrono::milliseconds(millis));
    }

  private:
    std::chrono::steady_clock::time_point base_;
};

} // namespace sampler::testing

#pragma once
// sampler's own CPU time, as the kernel counts it: what a sample costs the machine.

#include <cstdint>

namespace sampler {

// This process's user + system CPU time so far, in seconds.
double own_cpu_seconds();

// sampler's CPU per thread sample over a recording, in two windows: from the first samples on
// (start-up excluded), and its steady state, from one second later on. The first second also
// carries the one-off work of each stack seen for the first time: the line table and inline
// scopes of each compilation unit its native frames are in, each Python code object decoded.
class OwnCpuWindows {
  public:
    static constexpr std::uint64_t settle_ns = 1'000'000'000;

    // Opens the first window now, whatever was sampled so far (the ptrace engine: after its
    // first round, which loads the symbols).
    void start(std::uint64_t now_ns, std::uint64_t samples) {
        from_start_.begin(samples);
        steady_from_ns_ = now_ns + settle_ns;
    }
    // Called after each batch of samples, with the time and the thread samples taken so far; the
    // first window opens at the first samples unless start() opened it.
    void note(std::uint64_t now_ns, std::uint64_t samples) {
        if (samples == 0)
            return;
        if (!from_start_.open())
            start(now_ns, samples);
        else if (!steady_.open() && now_ns >= steady_from_ns_)
            steady_.begin(samples);
    }
    // Closes both windows at `samples` thread samples: {seconds, samples} of each, zero when the
    // window never opened.
    struct Figures {
        double seconds = 0;
        std::uint64_t samples = 0;
    };
    Figures from_start(std::uint64_t samples) const { return from_start_.until(samples); }
    Figures steady(std::uint64_t samples) const { return steady_.until(samples); }

  private:
    struct Window {
        double cpu_at_begin = -1;
        std::uint64_t samples_at_begin = 0;
        bool open() const { return cpu_at_begin >= 0; }
        void begin(std::uint64_t samples) {
            cpu_at_begin = own_cpu_seconds();
            samples_at_begin = samples;
        }
        Figures until(std::uint64_t samples) const {
            if (!open())
                return {};
            return {own_cpu_seconds() - cpu_at_begin, samples - samples_at_begin};
        }
    };
    Window from_start_, steady_;
    std::uint64_t steady_from_ns_ = 0;
};

} // namespace sampler

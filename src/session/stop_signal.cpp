#include "stop_signal.hpp"

#include <csignal>
#include <ctime>
#include <pthread.h>
#include <thread>

namespace sampler {
namespace {

constexpr int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int number) {
    g_stop_signal = number;
}

} // namespace

void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: a sleep must end when the signal arrives
    for (int number : stop_signals)
        sigaction(number, &action, nullptr);
}

bool stop_requested() {
    return g_stop_signal != 0;
}
int stop_signal_number() {
    return g_stop_signal;
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
    while (!stop_requested()) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return;
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
        timespec pause{static_cast<time_t>(left.count() / 1'000'000'000),
                       static_cast<long>(left.count() % 1'000'000'000)};
        nanosleep(&pause, nullptr); // returns early with EINTR on a stop signal
    }
}

StopSignalsDeferred::StopSignalsDeferred() {
    sigset_t stop;
    sigemptyset(&stop);
    for (int number : stop_signals)
        sigaddset(&stop, number);
    pthread_sigmask(SIG_BLOCK, &stop, &saved_);
}

StopSignalsDeferred::~StopSignalsDeferred() {
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

} // namespace sampler

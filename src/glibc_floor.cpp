// Keeps the glibc a self-contained build needs at 2.35 (Ubuntu 22.04), not Debian 12's 2.36.
// The static libstdc++ calls arc4random (new in glibc 2.36) in std::random_device; the link
// sends that call here (-Wl,--wrap=arc4random) and these bytes come from getrandom (2.25).

#include <cstdint>
#include <sys/random.h>

extern "C" std::uint32_t __wrap_arc4random() {
    std::uint32_t value = 0;
    std::size_t filled = 0;
    while (filled < sizeof value) {
        const ssize_t got = ::getrandom(reinterpret_cast<char*>(&value) + filled, sizeof value - filled, 0);
        if (got > 0)
            filled += static_cast<std::size_t>(got);
        // EINTR: a signal arrived before any byte did; anything else cannot happen for 4 bytes.
    }
    return value;
}

#include "period_counter.hpp"

namespace sampler {

void PeriodCounter::add(std::uint64_t period) {
    if (period < base_)
        return; // older than the window: settled
    if (period >= base_ + window) {
        // Slide the window on so that it ends at this period, clearing the words it leaves
        // behind (at most the whole ring).
        const std::uint64_t new_base = (period - window + 1 + 63) & ~std::uint64_t{63};
        const std::uint64_t words = bits_.size();
        for (std::uint64_t word = base_ / 64, cleared = 0; word < new_base / 64 && cleared < words;
             ++word, ++cleared)
            bits_[word % words] = 0;
        base_ = new_base;
    }
    std::uint64_t& word = bits_[(period / 64) % bits_.size()];
    const std::uint64_t bit = std::uint64_t{1} << (period % 64);
    if (!(word & bit)) {
        word |= bit;
        ++count_;
    }
}

} // namespace sampler

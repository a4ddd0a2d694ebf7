#pragma once
// Text helpers for `sampler top`: names come from the target (function names, command lines,
// thread names), so they are made safe to print and cut to fit a terminal row.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sampler {

// Control characters (which a terminal would act on) become '?'.
std::string printable(const std::string& text);

// Columns `text` takes, counting one per UTF-8 code point.
std::size_t display_width(const std::string& text);

// `text` right-aligned in `width` columns (as it is when longer).
std::string right_aligned(const std::string& text, std::size_t width);

// 100 × count / of with one decimal ("0.0" when `of` is 0).
std::string format_percent(std::uint64_t count, std::uint64_t of);

// `text` cut to at most `width` columns at a code point boundary, ending in "..." when cut
// (when width allows). Width 0 means no limit.
std::string fit_to_width(const std::string& text, std::size_t width);

} // namespace sampler

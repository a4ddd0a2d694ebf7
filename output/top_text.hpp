#pragma once
// Text helpers for `sampler top`: names come from the target (function names, command lines,
// thread names), so they are made safe to print and cut to fit a terminal row.

#include <cstddef>
#include <string>

namespace sampler {

// Control characters (which a terminal would act on) become '?'.
std::string printable(const std::string& text);

// Columns `text` takes, counting one per UTF-8 code point.
std::size_t display_width(const std::string& text);

// `text` cut to at most `width` columns at a code point boundary, ending in "..." when cut
// (when width allows). Width 0 means no limit.
std::string fit_to_width(const std::string& text, std::size_t width);

} // namespace sampler

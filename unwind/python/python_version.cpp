#include "python_version.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace sampler::python {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

} // namespace

std::optional<MinorVersion> version_from_file_name(std::string_view name) {
    constexpr std::string_view stem = "python";
    for (std::size_t at = name.find(stem); at != std::string_view::npos; at = name.find(stem, at + 1)) {
        std::size_t pos = at + stem.size();
        if (pos + 2 >= name.size() || !is_digit(name[pos]) || name[pos + 1] != '.' ||
            !is_digit(name[pos + 2]))
            continue;
        MinorVersion version;
        version.major = name[pos] - '0';
        pos += 2;
        int minor = 0;
        for (int digits = 0; pos < name.size() && is_digit(name[pos]) && digits < 3; ++pos, ++digits)
            minor = minor * 10 + (name[pos] - '0');
        version.minor = minor;
        return version;
    }
    return std::nullopt;
}

std::string full_version_from_bytes(std::span<const std::uint8_t> file, MinorVersion version) {
    std::string prefix = std::to_string(version.major) + "." + std::to_string(version.minor) + ".";
    std::string fallback = prefix.substr(0, prefix.size() - 1);
    auto begin = reinterpret_cast<const char*>(file.data());
    auto end = begin + file.size();
    for (auto it = std::search(begin, end, prefix.begin(), prefix.end()); it != end;
         it = std::search(it + 1, end, prefix.begin(), prefix.end())) {
        if (it != begin && (is_digit(it[-1]) || it[-1] == '.'))
            continue;
        const char* digits = it + prefix.size();
        const char* p = digits;
        while (p != end && p - digits < 4 && is_digit(*p))
            ++p;
        if (p == digits || p == end || *p != '\0')
            continue;
        return prefix + std::string(digits, p);
    }
    return fallback;
}

} // namespace sampler::python

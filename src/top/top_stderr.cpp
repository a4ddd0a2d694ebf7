#include "top_stderr.hpp"

#include <deque>
#include <string>
#include <unistd.h>

namespace sampler {
namespace {

constexpr std::size_t replayed_lines = 20;

} // namespace

TopStderrCapture::TopStderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    if (!file_)
        return;
    saved_fd_ = ::dup(STDERR_FILENO);
    if (saved_fd_ < 0 || ::dup2(::fileno(file_), STDERR_FILENO) < 0) {
        if (saved_fd_ >= 0)
            ::close(saved_fd_);
        std::fclose(file_);
        file_ = nullptr;
        saved_fd_ = -1;
    }
}

TopStderrCapture::~TopStderrCapture() {
    if (!file_)
        return;
    std::fflush(stderr);
    ::dup2(saved_fd_, STDERR_FILENO);
    ::close(saved_fd_);

    // The warnings repeat at most once a second: the last few tell the story.
    std::deque<std::string> lines;
    std::size_t dropped = 0;
    std::rewind(file_);
    char buffer[1024];
    std::string line;
    while (std::fgets(buffer, sizeof buffer, file_)) {
        line += buffer;
        if (line.back() != '\n')
            continue;
        lines.push_back(std::move(line));
        line.clear();
        if (lines.size() > replayed_lines) {
            lines.pop_front();
            ++dropped;
        }
    }
    if (!line.empty())
        lines.push_back(line + "\n");
    std::fclose(file_);
    if (dropped)
        std::fprintf(stderr, "sampler: (%zu earlier messages not shown)\n", dropped);
    for (const std::string& text : lines)
        std::fputs(text.c_str(), stderr);
}

} // namespace sampler

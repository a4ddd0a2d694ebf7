#include "top_plain.hpp"

#include "top_processes.hpp"
#include "top_table.hpp"

#include <cerrno>

namespace sampler {

bool TopPlainText::show(const TopStatus& status, const TopSnapshot& snapshot, bool) {
    errno = 0;
    // No width limit: a log keeps whole names, and there is no terminal to fit.
    for (const TopLine& line : format_top_header(status, 0))
        std::fprintf(out_, "%s\n", line.text.c_str());
    if (status.view.by_process) {
        // The process table answers "which process"; the functions of all of them follow.
        TopProcessTableFormat format{.window_rounds = snapshot.window_rounds,
                                     .accumulated_rounds = snapshot.accumulated_rounds,
                                     .idle = status.idle,
                                     .width = 0,
                                     .max_rows = max_rows_};
        for (const std::string& line :
             format_top_process_table(build_top_process_rows(snapshot, status.view.process_sort), format))
            std::fprintf(out_, "%s\n", line.c_str());
        std::fprintf(out_, "\n");
    }
    TopTableFormat format{.window_rounds = snapshot.window_rounds,
                          .rate_hz = status.requested_rate_hz,
                          .width = 0,
                          .max_rows = max_rows_};
    for (const std::string& line : format_top_table(build_top_rows(snapshot, status.view), format))
        std::fprintf(out_, "%s\n", line.c_str());
    std::fprintf(out_, "\n");
    if (status.stalls.watching) {
        // --asyncio: what blocked the loops since the start, under what used the CPU.
        for (const std::string& line : format_top_stall_table(snapshot.stall_culprits, 0, max_rows_))
            std::fprintf(out_, "%s\n", line.c_str());
        if (snapshot.stall_culprits.empty())
            std::fprintf(out_, "%s\n", top_stall_empty_message(status.stalls).c_str());
        std::fprintf(out_, "\n");
    }
    // A reader that went away (`| head`) ends the session rather than sampling for nobody.
    if (std::fflush(out_) == 0 && !std::ferror(out_))
        return true;
    error_ = errno != 0 ? errno : EIO;
    return false;
}

} // namespace sampler

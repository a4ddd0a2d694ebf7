#include "top_screen.hpp"

#include "sampler/error.hpp"
#include "top_processes.hpp"
#include "top_table.hpp"

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <curses.h>
#include <string>
#include <vector>

namespace sampler {
namespace {

enum ColorPair : short { warning_pair = 1 };

const std::vector<std::string> help_text{
    "sampler top: keys",
    "",
    "1 2 3 4   sort by %Own, %Total, OwnTime, TotalTime",
    "          (processes: %CPU, %Avg, Threads, %GIL)",
    "L         by function / by line",
    "T         all threads / one thread at a time",
    "W         the process table / the functions",
    "Up Down   choose a process; Enter shows its functions",
    "N         all processes / one process at a time",
    "S         the stall culprits / back (--asyncio)",
    "P         pause the display (sampling goes on)",
    "R         reset the counters",
    "?         this help (any key closes it)",
    "q Ctrl-C  quit (the target runs on)",
    "",
    "%Own      share of the last refresh spent in the function's",
    "          own code (100 = one thread, all the time)",
    "%Total    the same, in the function or anything it called",
    "OwnTime   samples / rate in its own code, since start or R",
    "TotalTime the same, in it or anything it called",
    "%CPU      a process's on-CPU samples in the last refresh",
    "          (100 = one CPU); %Avg since start or R",
};

attr_t style_attributes(TopLineStyle style) {
    switch (style) {
    case TopLineStyle::title:
        return A_BOLD;
    case TopLineStyle::warning:
        return A_BOLD | (has_colors() ? COLOR_PAIR(warning_pair) : A_REVERSE);
    case TopLineStyle::normal:
        break;
    }
    return A_NORMAL;
}

void draw_help() {
    int height = static_cast<int>(help_text.size()) + 2;
    int width = 0;
    for (const std::string& line : help_text)
        width = std::max(width, static_cast<int>(line.size()));
    width += 4;
    if (height > LINES || width > COLS)
        return; // too small to be legible: the header still names the keys
    WINDOW* box_window = newwin(height, width, (LINES - height) / 2, (COLS - width) / 2);
    if (!box_window)
        return;
    box(box_window, 0, 0);
    for (std::size_t i = 0; i < help_text.size(); ++i)
        mvwaddstr(box_window, static_cast<int>(i) + 1, 2, help_text[i].c_str());
    wnoutrefresh(box_window);
    delwin(box_window);
}

// A table as the screen draws it: its lines (the column titles first), the span of the sorted
// column, and the line of the chosen row (0: none).
struct Table {
    std::vector<std::string> lines;
    std::pair<std::size_t, std::size_t> sorted_column;
    std::size_t selected_line = 0;
};

Table function_table(const TopStatus& status, const TopSnapshot& snapshot, std::size_t width,
                     std::size_t rows) {
    TopTableFormat format{.window_rounds = snapshot.window_rounds,
                          .rate_hz = status.requested_rate_hz,
                          .width = width,
                          .max_rows = rows};
    return {format_top_table(build_top_rows(snapshot, status.view), format),
            top_column_span(status.view.sort)};
}

// The chosen row is kept in sight: rows scroll when it is below the screen's last one.
Table process_table(const TopStatus& status, const TopSnapshot& snapshot, std::size_t width,
                    std::size_t rows) {
    std::vector<TopProcessRow> all = build_top_process_rows(snapshot, status.view.process_sort);
    const std::size_t selected = top_process_index(all, status.view.selected);
    const std::size_t first = rows > 0 && selected >= rows ? selected - rows + 1 : 0;
    std::vector<TopProcessRow> shown(all.begin() + static_cast<std::ptrdiff_t>(std::min(first, all.size())),
                                     all.end());
    TopProcessTableFormat format{.window_rounds = snapshot.window_rounds,
                                 .accumulated_rounds = snapshot.accumulated_rounds,
                                 .idle = status.idle,
                                 .width = width,
                                 .max_rows = rows};
    return {format_top_process_table(shown, format), top_process_column_span(status.view.process_sort),
            all.empty() ? 0 : selected - first + 1};
}

Table stall_table(const TopSnapshot& snapshot, std::size_t width, std::size_t rows) {
    return {format_top_stall_table(snapshot.stall_culprits, width, rows), top_stall_column_span()};
}

} // namespace

TopScreen::TopScreen() {
    // Multibyte names (UTF-8) need the locale's character type; numbers keep the C format.
    std::setlocale(LC_CTYPE, "");
    SCREEN* screen = newterm(nullptr, stdout, stdin);
    if (!screen) {
        const char* term = std::getenv("TERM");
        throw Error(ErrorKind::unsupported, std::string("no terminal description for TERM=") +
                                                (term ? term : "(unset)") + " in this host's terminfo");
    }
    screen_ = screen;
    // cbreak, not raw: Ctrl-C stays a signal, which the stop handlers already turn into a stop.
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE); // getch never blocks: keys are polled between sampling rounds
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(warning_pair, COLOR_RED, -1);
    }
}

TopScreen::~TopScreen() {
    endwin();
    delscreen(static_cast<SCREEN*>(screen_));
}

int TopScreen::read_key() {
    int key = getch();
    if (key == ERR)
        return top_no_key;
    if (key == KEY_RESIZE)
        return top_resize_key;
    if (key == KEY_UP)
        return top_up_key;
    if (key == KEY_DOWN)
        return top_down_key;
    if (key == KEY_ENTER || key == '\n' || key == '\r')
        return top_enter_key;
    return key;
}

bool TopScreen::show(const TopStatus& status, const TopSnapshot& snapshot, bool help) {
    erase();
    auto width = static_cast<std::size_t>(std::max(COLS, 1));
    int row = 0;
    for (const TopLine& line : format_top_header(status, width)) {
        if (row >= LINES)
            break;
        attr_t attributes = style_attributes(line.style);
        attron(attributes);
        mvaddstr(row++, 0, line.text.c_str());
        attroff(attributes);
    }
    ++row; // a blank line between the header and the table
    if (row < LINES) {
        const std::size_t rows_left = static_cast<std::size_t>(std::max(LINES - row - 1, 0));
        Table table = status.view.stalls       ? stall_table(snapshot, width, rows_left)
                      : status.view.by_process ? process_table(status, snapshot, width, rows_left)
                                               : function_table(status, snapshot, width, rows_left);
        // The column titles as a reversed bar across the screen, the sorted column underlined.
        mvaddstr(row, 0, table.lines[0].c_str());
        mvchgat(row, 0, -1, A_REVERSE, 0, nullptr);
        auto [start, columns] = table.sorted_column;
        if (start < width)
            mvchgat(row, static_cast<int>(start), static_cast<int>(columns), A_REVERSE | A_BOLD | A_UNDERLINE,
                    0, nullptr);
        ++row;
        for (std::size_t i = 1; i < table.lines.size() && row < LINES; ++i) {
            mvaddstr(row, 0, table.lines[i].c_str());
            if (i == table.selected_line)
                mvchgat(row, 0, -1, A_REVERSE, 0, nullptr);
            ++row;
        }
        if (table.lines.size() == 1 && row < LINES)
            mvaddnstr(
                row, 0,
                (status.view.stalls ? top_stall_empty_message(status.stalls) : top_empty_message(snapshot))
                    .c_str(),
                static_cast<int>(width));
    }
    wnoutrefresh(stdscr);
    if (help)
        draw_help();
    doupdate();
    return true;
}

} // namespace sampler

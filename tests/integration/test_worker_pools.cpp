// Worker pools, on a real gunicorn (Debian's package, run by /usr/bin/python3) with 4 sync
// workers of which one only is hot: `top --by-process` ranks it first with the CPU share /proc
// gives it over the same window, --idle gives each worker's on-CPU and sleeping shares, and
// `record --subprocesses` ends with a line per process.
#include "process_helpers.hpp"
#include "skips.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace sampler::testing;
using namespace std::chrono_literals;

namespace {

constexpr long clock_ticks_per_second = 100; // USER_HZ
const std::string python = "/usr/bin/python3";

bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

void require_gunicorn() {
    ChildProcess probe({python, "-c", "import gunicorn"});
    if (probe.wait(30s) != 0)
        skip_test("gunicorn is not importable by " + python + " (Debian package gunicorn)");
}

std::vector<int> children_of(int pid) {
    std::istringstream in(
        read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
    std::vector<int> children;
    for (int child = 0; in >> child;)
        children.push_back(child);
    return children;
}

// One HTTP/1.0 request over a Unix socket; the body of the answer, empty when there was none.
std::string http_get(const std::string& socket_path, const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return "";
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socket_path.copy(address.sun_path, sizeof address.sun_path - 1);
    std::string answer;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: pool\r\n\r\n";
        if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
            char buffer[4096];
            for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;)
                answer.append(buffer, static_cast<std::size_t>(got));
        }
    }
    ::close(fd);
    const std::size_t body = answer.find("\r\n\r\n");
    return body == std::string::npos ? "" : answer.substr(body + 4);
}

// gunicorn, 4 sync workers serving pool_app.py on a socket of its own; the test's ChildProcess
// kills its whole process group (master and workers) when the test ends, pass or fail. One
// worker is made hot: it burns CPU in a thread of its own from the first /hot request on.
class HotPool {
  public:
    HotPool()
        : socket_(temp_path("pool-" + std::to_string(::getpid()) + ".sock")),
          master_({python, "-m", "gunicorn", "--workers", "4", "--worker-class", "sync", "--bind",
                   "unix:" + socket_, "--chdir", source_path("tests/integration/python"), "pool_app:app"}) {
        for (auto deadline = std::chrono::steady_clock::now() + 60s;
             workers().size() < 4 && std::chrono::steady_clock::now() < deadline;)
            std::this_thread::sleep_for(50ms);
        INFO("gunicorn: " << master_.errors());
        REQUIRE(workers().size() == 4);
        std::string body;
        for (auto deadline = std::chrono::steady_clock::now() + 30s;
             body.empty() && std::chrono::steady_clock::now() < deadline;) {
            body = http_get(socket_, "/hot");
            if (body.empty())
                std::this_thread::sleep_for(100ms);
        }
        hot_ = std::atoi(body.c_str());
        REQUIRE(std::ranges::count(workers(), hot_) == 1);
        // Its burner has started once its CPU time grows.
        const long before = cpu_ticks(hot_);
        for (auto deadline = std::chrono::steady_clock::now() + 10s;
             cpu_ticks(hot_) < before + 20 && std::chrono::steady_clock::now() < deadline;)
            std::this_thread::sleep_for(50ms);
    }
    int master() const { return master_.pid(); }
    int hot() const { return hot_; }
    std::vector<int> workers() const { return children_of(master_.pid()); }

  private:
    std::string socket_;
    ChildProcess master_;
    int hot_ = 0;
};

// Reads a process's utime + stime every 20 ms while it lives, so that its CPU share over any
// span of that time can be looked up afterwards.
class CpuRecorder {
  public:
    explicit CpuRecorder(int pid)
        : thread_([this, pid] {
              while (!stop_) {
                  const long ticks = cpu_ticks(pid);
                  {
                      std::lock_guard lock(mutex_);
                      readings_.emplace_back(std::chrono::steady_clock::now(), ticks);
                  }
                  std::this_thread::sleep_for(20ms);
              }
          }) {}
    ~CpuRecorder() {
        stop_ = true;
        thread_.join();
    }
    CpuRecorder(const CpuRecorder&) = delete;
    CpuRecorder& operator=(const CpuRecorder&) = delete;

    // Percent of one CPU between `from` and `to`, from the readings nearest to each.
    double percent(std::chrono::steady_clock::time_point from,
                   std::chrono::steady_clock::time_point to) const {
        std::lock_guard lock(mutex_);
        auto nearest = [&](std::chrono::steady_clock::time_point when) {
            const std::pair<std::chrono::steady_clock::time_point, long>* best = &readings_.front();
            for (const auto& reading : readings_)
                if (std::chrono::abs(reading.first - when) < std::chrono::abs(best->first - when))
                    best = &reading;
            return *best;
        };
        auto [start, start_ticks] = nearest(from);
        auto [end, end_ticks] = nearest(to);
        const double seconds = std::chrono::duration<double>(end - start).count();
        return seconds > 0 ? 100.0 * double(end_ticks - start_ticks) / clock_ticks_per_second / seconds : -1;
    }

  private:
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<std::pair<std::chrono::steady_clock::time_point, long>> readings_;
    std::thread thread_;
};

struct ProcessRow {
    int pid = 0;
    double cpu = -1;
    std::vector<double> shares; // %CPU, %Avg, Threads, %GIL, and with --idle %OnCPU, %Sleep
    std::string line;
};

double number(const std::string& field) {
    if (field == "<0.1")
        return 0.05;
    if (field == "-")
        return -1;
    return std::atof(field.c_str());
}

// The rows of the first process table in `text`, in order.
std::vector<ProcessRow> process_rows(const std::string& text, std::size_t numbers) {
    std::vector<ProcessRow> rows;
    for (const std::string& line : process_table_lines(text)) {
        std::istringstream fields(line);
        ProcessRow row;
        row.line = line;
        fields >> row.pid;
        for (std::size_t i = 0; i < numbers; ++i) {
            std::string field;
            fields >> field;
            row.shares.push_back(number(field));
        }
        row.cpu = row.shares.at(0);
        rows.push_back(row);
    }
    return rows;
}

struct TopRun {
    std::string out;
    std::string err;
    int exit_code = -1;
    std::chrono::steady_clock::time_point shown; // when its snapshot appeared
    double elapsed = -1;                         // the header's elapsed seconds: the window
};

// `top --once` as a child whose output is watched, so that the end of its window is known to
// within the polling interval.
TopRun run_top(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {sampler_binary(), "top"});
    ChildProcess top(arguments);
    TopRun run;
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!contains(top.output(), "Function (file:line)") && std::chrono::steady_clock::now() < deadline &&
           top.wait(1ms) < 0)
        std::this_thread::sleep_for(10ms);
    run.shown = std::chrono::steady_clock::now();
    run.exit_code = top.wait(30s);
    run.out = top.output();
    run.err = top.errors();
    std::smatch elapsed;
    if (std::regex_search(run.out, elapsed, std::regex(R"(elapsed ([\d.]+) s)")))
        run.elapsed = std::stod(elapsed[1]);
    return run;
}

} // namespace

TEST_CASE("gunicorn: top --by-process ranks the hot worker first, with the CPU share /proc gives it",
          "[python][pools][perf]") {
    require_gunicorn();
    HotPool pool;
    CpuRecorder recorder(pool.hot());
    for (const char* engine : {"perf", "ptrace"}) {
        DYNAMIC_SECTION("on " << engine) {
            TopRun top = run_top({"--pid", std::to_string(pool.master()), "--subprocesses", "--by-process",
                                  "--once", "--delay", "4", "-r", "100", "--capture", engine});
            INFO("stdout:\n" << top.out << "stderr:\n" << top.err);
            REQUIRE(top.exit_code == 0);
            REQUIRE(top.elapsed > 3);
            CHECK(contains(top.out, "by process, sorted by %CPU"));
            auto rows = process_rows(top.out, 4);
            REQUIRE(rows.size() == 5); // the master and its 4 workers, idle ones included
            CHECK(rows[0].pid == pool.hot());
            CHECK(contains(rows[0].line, "burn (pool_app.py)"));
            const double proc =
                recorder.percent(top.shown - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                 std::chrono::duration<double>(top.elapsed)),
                                 top.shown);
            INFO("hot worker: " << rows[0].cpu << "% sampled, " << proc << "% by /proc over the same window");
            REQUIRE(proc > 10); // it did burn: a share to compare
            if (std::string(engine) == "perf") {
                // On-CPU samples, as the kernel counts CPU time: they agree within 5% (issue 9).
                // ~400 samples at 100 Hz: the clock's random periods must make up for each
                // other within the window (this read 89.8% for 99.9% when a period was kept for
                // 64 samples and its excess counted by the CPU's whole time).
                CHECK(rows[0].cpu == Approx(proc).epsilon(0.05));
            } else {
                // Rounds in which /proc said `R`, which includes waiting for a CPU: never much less.
                CHECK(rows[0].cpu > proc - 10);
            }
            // The idle workers and the master hardly run.
            for (std::size_t i = 1; i < rows.size(); ++i)
                CHECK(rows[i].cpu < 5);
        }
    }
}

TEST_CASE("gunicorn: --idle shows each worker's on-CPU and sleeping shares, record a line per worker",
          "[python][pools]") {
    require_gunicorn();
    HotPool pool;
    const std::string master = std::to_string(pool.master());

    TopRun top = run_top(
        {"--pid", master, "--subprocesses", "--by-process", "--once", "--idle", "--delay", "3", "-r", "100"});
    INFO("stdout:\n" << top.out << "stderr:\n" << top.err);
    REQUIRE(top.exit_code == 0);
    CHECK(contains(top.out, "%OnCPU  %Sleep"));
    auto rows = process_rows(top.out, 6);
    REQUIRE(rows.size() == 5);
    CHECK(rows[0].pid == pool.hot());
    for (const ProcessRow& row : rows) {
        // Shares of the process's own samples: on-CPU and sleeping make it whole.
        CHECK(row.shares[4] + row.shares[5] == Approx(100).margin(0.2));
        if (row.pid == pool.hot()) {
            // Two threads: the burner mostly on a CPU, the main one asleep in its accept loop.
            CHECK(row.shares[4] > 5);
            CHECK(row.shares[4] < 90);
        } else {
            // Idle sync workers (and the master) wait: a small share on a CPU, most asleep.
            CHECK(row.shares[5] > 90);
            CHECK(row.shares[2] == 1); // one thread each
            // The hottest function is where it was on a CPU when it was (any of gunicorn's own
            // functions: the master wakes each second to check its workers), else where it waits.
            if (row.shares[4] == 0)
                CHECK((contains(row.line, "SyncWorker.wait") || contains(row.line, "Arbiter.sleep")));
            else
                CHECK(contains(row.line, "(gunicorn/"));
        }
    }

    const std::string out = temp_path("pool.txt");
    CommandResult record =
        run_sampler({"record", "--pid", master, "--subprocesses", "-d", "2", "-f", "folded", "-o", out});
    INFO(record.err);
    REQUIRE(record.exit_code == 0);
    // One line per process, the hot worker's first, idle workers listed too.
    std::regex line(R"(sampler: process (\d+) \([^\n]*gunicorn[^\n]*\): (\d+) samples, ([\d.]+)% CPU\n)");
    std::vector<int> listed;
    for (auto match = std::sregex_iterator(record.err.begin(), record.err.end(), line);
         match != std::sregex_iterator(); ++match)
        listed.push_back(std::stoi((*match)[1]));
    REQUIRE(listed.size() == 5);
    CHECK(listed[0] == pool.hot());
    CHECK(std::ranges::count(listed, pool.master()) == 1);
}

#include "commands.hpp"

#include "output_file.hpp"

#include "chrome_trace_writer.hpp"
#include "flamegraph_svg.hpp"
#include "folded_writer.hpp"
#include "pprof_writer.hpp"
#include "proc_threads.hpp"
#include "process_summary.hpp"
#include "profile_builder.hpp"
#include "sampler/error.hpp"
#include "sampling_session.hpp"
#include "speedscope_writer.hpp"
#include "stall_text.hpp"
#include "stall_watch.hpp"
#include "stop_signal.hpp"
#include "target.hpp"
#include "task_roots.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

namespace sampler {
namespace {

struct FormatInfo {
    const char* name;
    const char* extension; // of the default output name
    const char* what;      // for "wrote ... to PATH"
};

constexpr FormatInfo formats[] = {
    {"flamegraph", ".svg", "flame graph"},          {"folded", ".txt", "folded stacks"},
    {"pprof", ".pb.gz", "pprof profile"},           {"speedscope", ".speedscope.json", "speedscope profile"},
    {"chrometrace", ".trace.json", "Chrome trace"},
};

const FormatInfo* format_info(const std::string& format) {
    for (const FormatInfo& info : formats)
        if (format == info.name)
            return &info;
    return nullptr;
}

std::string extension_of(const std::string& format) {
    const FormatInfo* info = format_info(format);
    return info ? info->extension : ".svg";
}

std::string default_output_name(int pid, const std::string& format) {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", std::localtime(&now));
    return "sampler-" + std::to_string(pid) + "-" + stamp + extension_of(format);
}

std::string render(const Profile& profile, const RecordOptions& options) {
    const std::string exporter = std::string("sampler@") + SAMPLER_VERSION;
    if (options.format == "folded")
        return render_folded(profile);
    if (options.format == "pprof")
        return render_pprof(profile);
    if (options.format == "speedscope")
        return render_speedscope(profile, exporter);
    if (options.format == "chrometrace")
        return render_chrome_trace(profile, exporter);
    FlamegraphOptions flamegraph;
    flamegraph.title = options.title;
    flamegraph.inverted = options.inverted;
    flamegraph.min_width_pixels = options.min_width_pixels;
    return render_flamegraph_svg(profile, flamegraph);
}

// Only the formats that show time pay for a per-sample record.
bool needs_timeline(const std::string& format) {
    return format == "speedscope" || format == "chrometrace";
}

const char* reason_text(StopReason reason) {
    switch (reason) {
    case StopReason::stop_signal:
        return "interrupted";
    case StopReason::duration:
        return "duration reached";
    case StopReason::target_exited:
        return "target exited";
    case StopReason::sink:
        return "stopped";
    }
    return "";
}

std::string kept_share_text(const SessionReport& report, double rate_hz) {
    char text[160];
    if (const std::optional<double> kept = report.kept_share())
        std::snprintf(text, sizeof text, "%.1f%% of the %.0f its threads' CPU time called for", 100 * *kept,
                      report.expected_samples);
    else
        std::snprintf(text, sizeof text,
                      "its threads ran %.1f ms on a CPU, too little to tell the share of the rate kept",
                      1e3 * report.expected_samples / rate_hz);
    return text;
}

// The end-of-run summary. The first line has one shape for both engines (scripts parse it); the
// perf_event engine adds what only it knows: the share of the requested rate it kept, measured
// against the CPU time the threads used, and that nothing was stopped.
void print_session_summary(const SessionReport& report, double rate_hz) {
    const bool perf = report.engine == "perf_event";
    // A target that hardly ran called for too few samples to tell what share was kept: the rate
    // is then the one asked for, with the reason on the engine's line (not "0.0 Hz", which
    // reads as a failure to sample).
    const std::optional<double> kept_rate = report.kept_rate(rate_hz);
    const double achieved = kept_rate.value_or(rate_hz);
    std::fprintf(stderr,
                 "sampler: %s after %.1f s: %llu samples (%.1f Hz of %g Hz requested), %llu stacks, "
                 "%llu errors, %llu truncated; pause per thread sample p50 %llu us, p99 %llu us\n",
                 reason_text(report.reason), report.elapsed_seconds, (unsigned long long)report.ticks,
                 achieved, rate_hz, (unsigned long long)report.thread_samples,
                 (unsigned long long)report.errors, (unsigned long long)report.truncated,
                 (unsigned long long)report.pauses.percentile_micros(0.5),
                 (unsigned long long)report.pauses.percentile_micros(0.99));
    if (perf)
        std::fprintf(stderr,
                     "sampler: perf_event engine: %s; %llu thread samples, %s%s; %llu lost, %llu torn "
                     "Python reads dropped%s\n",
                     report.pauses.count() == 0
                         ? "target never stopped"
                         : ("target stopped " + std::to_string(report.pauses.count()) +
                            " times, for stacks the kernel does not copy (threads asleep at the start, once "
                            "each, with --idle; native programs a Python target exec'd, without --native)")
                               .c_str(),
                     (unsigned long long)report.received_samples, kept_share_text(report, rate_hz).c_str(),
                     report.uncovered_samples == 0
                         ? ""
                         : (" (" + std::to_string(report.uncovered_samples) +
                            " taken after an ended process's CPU time was last read left out)")
                               .c_str(),
                     (unsigned long long)report.lost_samples, (unsigned long long)report.torn_python_samples,
                     report.kernel_time_excluded ? "; user mode only (no CAP_PERFMON)" : "");
    else
        std::fprintf(stderr, "sampler: ptrace engine: each sampled thread was stopped for its copy%s\n",
                     kept_rate ? "" : "; the session was too short to tell the rate kept");
    if (perf && report.kernel_walked_samples > 0)
        std::fprintf(stderr,
                     "sampler: Python frames walked in the kernel (BPF) at the sample for %llu of the %llu "
                     "stacks; the others were read from the target at once\n",
                     (unsigned long long)report.kernel_walked_samples,
                     (unsigned long long)report.thread_samples);
    else if (perf && !report.kernel_walk_unavailable.empty())
        std::fprintf(stderr,
                     "sampler: Python frames read from the target at each sample, not in the kernel: %s\n",
                     report.kernel_walk_unavailable.c_str());
    if (perf && report.per_cpu_clocks)
        std::fprintf(stderr, "sampler: sampled by one clock per CPU, the targets' ticks kept by the BPF "
                             "program: the targets' context switches move no clock of sampler's\n");
    else if (perf && !report.per_cpu_refusal.empty())
        std::fprintf(stderr,
                     "sampler: sampled by one clock per thread (each moves with its thread at every context "
                     "switch), not per CPU: %s\n",
                     report.per_cpu_refusal.c_str());
    if (report.idle_samples > 0)
        std::fprintf(stderr,
                     "sampler: --idle: %llu of the stacks are of threads off their CPU (asleep or waiting)\n",
                     (unsigned long long)report.idle_samples);
    if (report.execs > 0)
        std::fprintf(stderr,
                     "sampler: %llu exec%s while recording: each such process was sampled anew from its "
                     "new program\n",
                     (unsigned long long)report.execs, report.execs == 1 ? "" : "s");
    std::fprintf(
        stderr, "sampler: own CPU while sampling (start-up excluded) %.3f s: %.1f us per thread sample\n",
        report.sampling_cpu_seconds,
        report.sampling_cpu_samples ? 1e6 * report.sampling_cpu_seconds / double(report.sampling_cpu_samples)
                                    : 0.0);
    if (report.steady_cpu_samples > 0)
        std::fprintf(
            stderr,
            "sampler: own CPU in steady state (from 1 s after the first samples: the one-off reading of "
            "each new stack's symbols and lines excluded) %.3f s: %.1f us per thread sample\n",
            report.steady_cpu_seconds, 1e6 * report.steady_cpu_seconds / double(report.steady_cpu_samples));
}

// "process 123 (./server)", or "processes 101, 102, 103".
std::string targets_text(const std::vector<int>& pids, const std::string& command_line) {
    if (pids.size() == 1)
        return "process " + std::to_string(pids.front()) + " (" + command_line + ")";
    std::string text = "processes";
    for (std::size_t i = 0; i < pids.size(); ++i)
        text += (i == 0 ? " " : ", ") + std::to_string(pids[i]);
    return text;
}

// One line per process: the ones with stacks, and those still sampled at the end without any
// (an idle worker is part of the answer to "which worker").
void print_process_summary(const Profile& profile, const SessionReport& report, double rate_hz) {
    std::map<int, ProcessRecord> processes = profile.processes;
    for (int pid : report.pids)
        if (!processes.contains(pid))
            processes[pid].command_line = process_command_line(pid);
    for (const std::string& line : format_process_summary(processes, report.share_periods(rate_hz)))
        std::fprintf(stderr, "sampler: %s\n", line.c_str());
}

// --stalls FILE: JSON lines, written and flushed as each stall ends (a `tail -f` follows it).
class StallsFile {
  public:
    explicit StallsFile(const std::string& path) {
        if (path.empty())
            return;
        if (path == "-") {
            file_ = stdout;
            return;
        }
        file_ = std::fopen(path.c_str(), "w");
        if (!file_)
            throw Error(ErrorKind::io, "cannot write stalls to " + path + ": " + std::strerror(errno));
        owned_ = true;
    }
    StallsFile(const StallsFile&) = delete;
    StallsFile& operator=(const StallsFile&) = delete;
    ~StallsFile() {
        if (owned_)
            std::fclose(file_);
    }
    void write(const std::string& line) {
        if (!file_)
            return;
        std::fputs(line.c_str(), file_);
        std::fputc('\n', file_);
        std::fflush(file_);
    }

  private:
    std::FILE* file_ = nullptr;
    bool owned_ = false;
};

// --tasks: how many stacks got a task root; or why none did.
void print_task_roots_summary(const TaskRoots& roots, const AsyncioProcesses& loops) {
    if (!loops.loop_threads_seen())
        std::fprintf(stderr, "sampler: --tasks: no running asyncio event loop with tasks was found (CPython "
                             "3.8-3.13): no stack has a task root\n");
    else
        std::fprintf(stderr,
                     "sampler: --tasks: %llu stacks of event-loop threads have a task root, %llu of them "
                     "loop (no task)\n",
                     (unsigned long long)(roots.task_stacks() + roots.no_task_stacks()),
                     (unsigned long long)roots.no_task_stacks());
}

} // namespace

// `launched_pid`: set to the PID of the command it starts, if any.
static int record_with(const RecordOptions& options, int& launched_pid) {
    if (!format_info(options.format))
        throw Error(ErrorKind::usage, "unknown format '" + options.format +
                                          "': use flamegraph, folded, pprof, speedscope or chrometrace");
    // Before anything starts: a long recording must not be lost at its end to an unwritable
    // output. (A command to launch has no PID yet; the check is about the directory anyway.)
    const std::vector<int> given = distinct_pids(options.target.pids);
    check_output_path(options.output.empty()
                          ? default_output_name(given.empty() ? 0 : given.front(), options.format)
                          : options.output);
    if (options.stalls_file == "-" && options.output == "-")
        throw Error(ErrorKind::usage, "--stalls - and -o - cannot both write to stdout");
    StallsFile stalls_file(options.stalls_file);
    install_stop_handlers();
    bool launched = given.empty();
    SessionOptions session;
    session.pids = launched ? std::vector<int>{launch_command(options.target.command)} : given;
    const int pid = session.main_pid();
    launched_pid = launched ? pid : 0;
    session.target_is_child = launched;
    session.rate_hz = options.rate_hz;
    session.duration_seconds = options.duration_seconds;
    session.stacks = options.target.stacks;
    session.subprocesses = options.target.subprocesses;
    session.capture = options.target.capture;
    check_targets(session.pids, target_access(session));

    Profile profile;
    profile.info.pid = pid;
    profile.info.command_line =
        target_command_line(pid, launched ? options.target.command : std::vector<std::string>{});
    profile.info.requested_rate_hz = options.rate_hz;
    profile.info.title = options.title;
    profile.info.start_unix_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
    std::string output = options.output.empty() ? default_output_name(pid, options.format) : options.output;

    // Once sampling has begun, not before loading symbols: from this line on the work is counted.
    session.on_started = [&] {
        std::fprintf(stderr, "sampler: recording %s at %g Hz%s\n",
                     targets_text(session.pids, profile.info.command_line).c_str(), options.rate_hz,
                     options.duration_seconds > 0 ? "" : "; press Ctrl-C to stop");
    };

    // Several processes: each is a root frame, and the summary gives each its line.
    const bool per_process = options.target.subprocesses || session.pids.size() > 1;
    ProfileBuilder builder(profile, AggregationOptions{.thread_roots = options.thread_roots,
                                                       .process_roots = per_process,
                                                       .record_timeline = needs_timeline(options.format),
                                                       .pprof_details = options.format == "pprof"});
    // engine -> task roots -> stall watch -> builder: the task is read as each stack is handed
    // over, and the stall watch may hand stacks on later (--stalls-only). Both read the loops
    // through one AsyncioProcesses.
    AsyncioProcesses loop_processes;
    std::unique_ptr<StallWatch> stall_watch;
    if (options.stalls.asyncio)
        stall_watch = std::make_unique<StallWatch>(
            builder, loop_processes,
            StallWatchOptions{.threshold_ms = options.stalls.stall_threshold_ms,
                              .rate_hz = options.rate_hz,
                              .stalls_only = options.stalls_only,
                              .on_stall = [&](const Stall& stall, double start_unix_seconds) {
                                  std::fprintf(stderr, "sampler: %s\n", stall_line(stall).c_str());
                                  stalls_file.write(stall_json(stall, start_unix_seconds));
                              }});
    SampleSink& after_tasks = stall_watch ? static_cast<SampleSink&>(*stall_watch) : builder;
    std::unique_ptr<TaskRoots> task_roots;
    if (options.task_roots)
        task_roots = std::make_unique<TaskRoots>(after_tasks, loop_processes);
    SessionReport report = run_watched_session(
        session, task_roots ? static_cast<SampleSink&>(*task_roots) : after_tasks, stall_watch.get());

    profile.info.duration_seconds = report.elapsed_seconds;
    profile.info.samples = report.ticks;
    profile.info.errors = report.errors;
    // What was sampled is said before the output is written: a failed write (a full disk) is
    // then reported after it, not instead of it.
    print_session_summary(report, options.rate_hz);
    if (!report.python_version.empty())
        std::fprintf(
            stderr, "sampler: Python %s: GIL held in %.1f%% of samples, threads active in %.1f%%%s\n",
            report.python_version.c_str(), 100 * report.gil_share(), 100 * report.active_share(),
            report.merge_mismatches
                ? (", " + std::to_string(report.merge_mismatches) + " --native stacks did not pair up")
                      .c_str()
                : "");
    if (per_process)
        print_process_summary(profile, report, options.rate_hz);
    if (stall_watch) {
        std::fputs(
            stall_summary_text(summarize_stalls(stall_watch->stalls()), options.stalls.stall_threshold_ms)
                .c_str(),
            stderr);
        if (stall_watch->loop_threads_seen() == 0 && !stall_watch->uvloop_seen())
            std::fprintf(stderr, "sampler: --asyncio: no running asyncio event loop with tasks was found "
                                 "(CPython 3.8-3.13)\n");
        if (options.stalls_only)
            std::fprintf(stderr,
                         "sampler: --stalls-only: the profile holds the %llu stacks taken inside stalls\n",
                         (unsigned long long)stall_watch->kept_stacks());
    }
    if (task_roots)
        print_task_roots_summary(*task_roots, loop_processes);
    write_output_file(output, render(profile, options));
    if (output != "-")
        std::fprintf(stderr, "sampler: wrote %s to %s\n", format_info(options.format)->what, output.c_str());
    if (report.thread_samples == 0)
        std::fprintf(stderr,
                     "sampler: no stacks were recorded: the target may have been idle (try --idle)\n");
    return launched ? command_exit_code(report.exit_status) : 0;
}

int run_record(const RecordOptions& options) {
    return run_for_command_status([&](int& launched_pid) { return record_with(options, launched_pid); });
}

} // namespace sampler

#include "cli.hpp"

#include "commands.hpp"
#include "sampler/error.hpp"
#include "value_checks.hpp"
#include "version.hpp"

#include <CLI/CLI.hpp>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string_view>

namespace sampler {
namespace {

enum class CommandKind { sampling, dump };

const std::map<std::string, CaptureChoice> capture_names{
    {"auto", CaptureChoice::automatic}, {"perf", CaptureChoice::perf}, {"ptrace", CaptureChoice::ptrace}};

// SAMPLER_CAPTURE sets the engine --capture defaults to (the test suite runs twice with it).
CaptureChoice default_capture() {
    const char* value = std::getenv("SAMPLER_CAPTURE");
    if (!value || !*value)
        return CaptureChoice::automatic;
    auto found = capture_names.find(value);
    if (found == capture_names.end())
        throw Error(ErrorKind::usage, std::string("SAMPLER_CAPTURE=") + value + ": use auto, perf or ptrace");
    return found->second;
}

// --capture's value: an engine name, turned into the number CLI11 reads the enum from; anything
// else is refused in one line.
CLI::Validator capture_engine_name() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            auto found = capture_names.find(value);
            if (found == capture_names.end())
                return "expected a capture engine, auto, perf or ptrace, got '" + value + "'";
            value = std::to_string(static_cast<int>(found->second));
            return {};
        },
        "");
}

void add_target_options(CLI::App& command, TargetOptions& target, CommandKind kind) {
    auto* pid = command
                    .add_option("-p,--pid", target.pids,
                                "PID of the running process to profile; several, comma-separated "
                                "(--pid 101,102,103), are each profiled as a root, as with --subprocesses")
                    ->delimiter(',')
                    ->check(whole_number("a process ID (a positive integer)", 1, INT_MAX));
    StackOptions& stacks = target.stacks;
    if (kind == CommandKind::sampling) {
        auto* program =
            command.add_option("command", target.command,
                               "COMMAND ARGS... (after --): start it and profile it until it exits; "
                               "sampler then exits with its status");
        pid->excludes(program);
        command.add_flag("--idle", stacks.include_idle,
                         "Also sample threads that are not running (sleeping, waiting)");
        command.add_flag("--gil", stacks.gil_only, "Python: only sample the thread holding the GIL");
        command.add_flag("--subprocesses", target.subprocesses,
                         "Also profile child processes, including ones started while sampling");
        command.add_flag("--function", stacks.function_lines,
                         "Python: aggregate by function (its first line) instead of the current line");
        target.capture = default_capture();
        command
            .add_option(
                "--capture", target.capture,
                "Capture engine: perf (the kernel samples each thread on its CPU clock; nothing is "
                "stopped), ptrace (stop each thread for its copy), or auto (default: perf, else ptrace)")
            ->transform(capture_engine_name())
            ->type_name("auto|perf|ptrace");
        // SAMPLER_BPF=off: the default the test suite uses to run the other way.
        const char* bpf = std::getenv("SAMPLER_BPF");
        stacks.no_bpf = bpf && std::string_view(bpf) == "off";
        command.add_flag("--no-bpf", stacks.no_bpf,
                         "Python, perf engine: read each sample's frames from the target when woken for "
                         "it, instead of walking them in the kernel (BPF) at the sample");
        // SAMPLER_CLOCKS=per-thread: the default the test suite uses to run the other way.
        const char* clocks = std::getenv("SAMPLER_CLOCKS");
        stacks.per_thread_clocks = clocks && std::string_view(clocks) == "per-thread";
        command.add_flag("--per-thread", stacks.per_thread_clocks,
                         "Perf engine, Python: a sampling clock per thread of the target (as perf record "
                         "--per-thread), instead of one per CPU filtered to the target in BPF");
        command.add_flag(
            "--blocking", stacks.blocking,
            "Stop each thread for its sample (the ptrace engine): exact Python stacks, as py-spy "
            "does by default");
    }
    command.add_flag("--native", stacks.native, "Python: merge native (C/C++) frames with the Python frames");
    command.add_flag("--nonblocking", stacks.nonblocking,
                     "Python: never stop the target (stacks may be torn); not with --native");
    command.add_flag("--full-filenames", stacks.full_filenames,
                     "Python: show full file paths instead of package-relative ones");
    command
        .add_option("--max-stack", stacks.max_stack_bytes,
                    "Bytes of each thread's stack copied per sample, 256 to 8388608 (default 65536)")
        ->check(whole_number("a number of bytes from 256 to 8388608", 256, 8 << 20));
    command
        .add_option("--max-depth", stacks.max_depth,
                    "Deepest stack unwound, in frames, 1 to 65536 (default 1024)")
        ->check(whole_number("a number of frames from 1 to 65536", 1, 65536));
}

CLI::Validator output_name() {
    return non_empty("a file name, or '-' for stdout");
}

CLI::Validator input_name() {
    return non_empty("a folded stacks file, or '-' for stdin");
}

CLI::Validator min_width() {
    return decimal_number("a width in pixels from 0 to 10000", 0, 10000);
}

CLI::Validator rate() {
    return decimal_number("samples per second, a number from 1 to 10000", 1, 10000);
}

void add_render_options(CLI::App& command, RenderOptions& render) {
    command.add_option("-o,--output", render.output, "Output SVG file; '-' for stdout (default)")
        ->check(output_name());
    command.add_option("--title", render.title, "Title of the flame graph");
    command.add_flag("--inverted", render.inverted, "Icicle graph: the root at the top, stacks growing down");
    command
        .add_option("--minwidth", render.min_width_pixels,
                    "Leave out frames narrower than this (pixels; default 0.1)")
        ->check(min_width());
}

// --asyncio and --stall-threshold; returns the flag, which the command's other stall options need.
// `what` says where the stalls go.
CLI::Option* add_stall_options(CLI::App& command, StallOptions& stalls, const std::string& what) {
    auto* asyncio_flag =
        command.add_flag("--asyncio", stalls.asyncio,
                         "Python 3.8-3.13: watch asyncio event loops for stalls (one callback "
                         "running for --stall-threshold or more): " +
                             what);
    command
        .add_option("--stall-threshold", stalls.stall_threshold_ms,
                    "With --asyncio: the shortest callback run that is a stall, in milliseconds "
                    "(default 100, asyncio's slow_callback_duration)")
        ->check(decimal_number("a number of milliseconds greater than 0", 0, 1e9, true))
        ->needs(asyncio_flag);
    return asyncio_flag;
}

void require_target(const TargetOptions& target, bool accepts_command) {
    if (target.pids.empty() && target.command.empty())
        throw Error(ErrorKind::usage,
                    accepts_command ? "give --pid PID or -- COMMAND ARGS..." : "give --pid PID");
    if (target.stacks.blocking && (target.stacks.nonblocking || target.capture == CaptureChoice::perf))
        throw Error(ErrorKind::usage, "--blocking stops threads: it cannot be combined with --nonblocking or "
                                      "--capture perf");
    if (target.stacks.nonblocking && target.stacks.native)
        throw Error(ErrorKind::usage, "--nonblocking cannot be combined with --native: native stacks are "
                                      "copied from a stopped thread");
}

} // namespace

int run_cli(int argc, char** argv) {
    CLI::App app{"sampler: a sampling profiler that attaches to a running process by PID", "sampler"};
    app.require_subcommand(1);
    app.set_version_flag("--version", version_text());

    RecordOptions record;
    auto* record_command =
        app.add_subcommand("record", "Sample a process's stacks and write a flame graph (SVG), folded "
                                     "stacks, pprof, speedscope or a Chrome trace");
    add_target_options(*record_command, record.target, CommandKind::sampling);
    record_command
        ->add_option("-o,--output", record.output,
                     "Output file; '-' for stdout (default sampler-PID-YYYYmmddTHHMMSS.svg, .txt, .pb.gz, "
                     ".speedscope.json or .trace.json)")
        ->check(output_name());
    record_command
        ->add_option("-f,--format", record.format,
                     "Output format: flamegraph (default), folded, pprof, speedscope or chrometrace")
        ->check(CLI::IsMember({"flamegraph", "folded", "pprof", "speedscope", "chrometrace"}));
    record_command->add_option("-r,--rate", record.rate_hz, "Samples per second, 1 to 10000 (default 100)")
        ->check(rate());
    record_command
        ->add_option("-d,--duration", record.duration_seconds,
                     "Seconds to record (default: until Ctrl-C or the target exits)")
        ->check(decimal_number("a number of seconds greater than 0", 0, std::numeric_limits<double>::max(),
                               true));
    record_command->add_flag("--threads", record.thread_roots,
                             "Add a root frame per thread: thread TID (name)");
    record_command->add_flag(
        "--tasks", record.task_roots,
        "Python 3.8-3.13: on an asyncio event loop's thread, add a root frame naming the "
        "task that ran: task NAME (COROUTINE), or loop (no task); before --threads' root");
    record_command->add_option("--title", record.title,
                               "Title of the flame graph (default: the command line)");
    record_command->add_flag("--inverted", record.inverted,
                             "Flame graph: icicle graph, the root at the top and stacks growing down");
    record_command
        ->add_option("--minwidth", record.min_width_pixels,
                     "Flame graph: leave out frames narrower than this many pixels (default 0.1)")
        ->check(min_width());
    auto* asyncio_flag = add_stall_options(*record_command, record.stalls,
                                           "each is told on stderr as it ends, and summed up at the end");
    record_command
        ->add_option("--stalls", record.stalls_file,
                     "With --asyncio: also write each stall to this file as a JSON line; '-' for stdout")
        ->needs(asyncio_flag);
    record_command
        ->add_flag("--stalls-only", record.stalls_only,
                   "With --asyncio: keep only the samples taken inside stalls, so the profile shows what "
                   "blocked the loop")
        ->needs(asyncio_flag);

    DumpOptions dump;
    auto* dump_command = app.add_subcommand("dump", "Print every thread's stack once, innermost frame first");
    add_target_options(*dump_command, dump.target, CommandKind::dump);
    dump_command->add_flag("--json", dump.json, "Print the stacks (or the tasks) as JSON");
    dump_command->add_flag("--tasks", dump.tasks,
                           "Python 3.8-3.13: print every asyncio task instead, per event loop: its state, "
                           "its coroutines and who awaits it, as a tree");

    TopOptions top;
    auto* top_command = app.add_subcommand(
        "top", "Live view of the functions using the CPU; plain-text snapshots when not on a terminal");
    add_target_options(*top_command, top.target, CommandKind::sampling);
    top_command->add_option("-r,--rate", top.rate_hz, "Samples per second, 1 to 10000 (default 100)")
        ->check(rate());
    top_command
        ->add_option("--delay", top.delay_seconds, "Seconds between refreshes, 0.1 to 3600 (default 1)")
        ->check(decimal_number("a number of seconds from 0.1 to 3600", 0.1, 3600));
    top_command->add_option("--rows", top.rows, "Rows per plain-text snapshot, 1 to 1000000 (default 20)")
        ->check(whole_number("a number of rows from 1 to 1000000", 1, 1000000));
    top_command->add_flag("--once", top.once,
                          "Print one plain-text snapshot after --delay seconds, then exit");
    top_command->add_flag("--by-process", top.by_process,
                          "Start in the process table (key W): one row per process, with its CPU share, "
                          "threads, GIL share and hottest function");
    add_stall_options(*top_command, top.stalls,
                      "the header tells the last window's; key S shows their culprits (plain text: "
                      "under the functions)");

    FlamegraphCommandOptions flamegraph;
    auto* flamegraph_command = app.add_subcommand(
        "flamegraph", "Render folded stacks (sampler, perf + stackcollapse, py-spy raw) as a "
                      "flame graph SVG");
    flamegraph_command->add_option("input", flamegraph.input, "Folded stacks file; '-' for stdin")
        ->required()
        ->check(input_name());
    add_render_options(*flamegraph_command, flamegraph.render);

    DiffOptions diff;
    auto* diff_command = app.add_subcommand(
        "diff", "Differential flame graph of two folded files: widths from AFTER, red grew, blue shrank");
    diff_command->add_option("before", diff.before, "Folded stacks before the change")
        ->required()
        ->check(input_name());
    diff_command->add_option("after", diff.after, "Folded stacks after the change")
        ->required()
        ->check(input_name());
    add_render_options(*diff_command, diff.render);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ValidationError& error) {
        // A bad value: our one line says what a valid one is; CLI11's usage hint would add nothing.
        std::fprintf(stderr, "sampler: error: %s\n", error.what());
        return static_cast<int>(ErrorKind::usage);
    } catch (const CLI::ParseError& error) {
        // --help and --version are not errors: CLI11 prints them. A misuse is told as every other
        // error is, and exits with the one usage code the README gives, not CLI11's own numbers.
        if (error.get_exit_code() == 0)
            return app.exit(error);
        std::fprintf(stderr, "sampler: error: %s\nRun with --help for more information.\n", error.what());
        return static_cast<int>(ErrorKind::usage);
    }
    // A closed pipe is an error we report (or, for stdout, exit quietly on) where the write
    // failed, rather than a signal that kills us wherever it lands.
    std::signal(SIGPIPE, SIG_IGN);

    try {
        if (*record_command) {
            require_target(record.target, true);
            return run_record(record);
        }
        if (*flamegraph_command)
            return run_flamegraph(flamegraph);
        if (*diff_command)
            return run_diff(diff);
        if (*top_command) {
            require_target(top.target, true);
            return run_top(top);
        }
        require_target(dump.target, false);
        if (dump.tasks && dump.target.stacks.native)
            throw Error(ErrorKind::usage,
                        "--tasks cannot be combined with --native: tasks have no native frames");
        return run_dump(dump);
    } catch (const Error& error) {
        if (error.kind() != ErrorKind::output_closed)
            std::fprintf(stderr, "sampler: error: %s\n", error.what());
        return error.exit_code();
    }
}

} // namespace sampler

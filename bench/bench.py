#!/usr/bin/env python3
"""Overhead benchmark for sampler (run through bench/run.sh; see bench/README.md).

Two sections, both run by default (--only selects one):

native: times a fixed amount of CPU work in the -O2 fixture (`workload bench ROUNDS`) unprofiled,
under sampler and under `perf record -g`, at 100 Hz and 1000 Hz, plus sampler at 1000 Hz on the
same work done 64 frames deep (`workload bench-deep ROUNDS DEPTH`), and prints one table.

python: times a fixed amount of pure-Python work (tests/fixtures/python_bench/workload.py) under
each CPython interpreter (pyenv's 3.12 and Debian's 3.11 by default) unprofiled and under sampler,
Python frames only (the default) and with --native, at 100 Hz and 1000 Hz, plus both at 1000 Hz on
the same work done 50 Python frames deep, and prints one table per interpreter.

Every run starts the program itself and attaches the profiler by PID, so the wall time measured
is the program's own: not the profiler's start-up or the writing of its output. The profiler's
CPU comes from its rusage (wait4). Runs of all configurations of a section are interleaved, so
slow drifts in the machine's load hit every configuration alike; each figure is the median over
the runs. Standard library only.
"""

import argparse
import glob
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

FINAL_LINE = re.compile(
    r"sampler: (?P<reason>[^:\n]+) after (?P<seconds>[\d.]+) s: (?P<ticks>\d+) samples "
    r"\((?P<hz>[\d.]+) Hz of (?P<requested>[\d.]+) Hz requested\), (?P<stacks>\d+) stacks, "
    r"(?P<errors>\d+) errors, (?P<truncated>\d+) truncated; "
    r"pause per thread sample p50 (?P<p50>\d+) us, p99 (?P<p99>\d+) us")
PYTHON_LINE = re.compile(
    r"^sampler: Python (?P<version>\S+): GIL held in [\d.]+% of samples, threads active in [\d.]+%"
    r"(?:, (?P<mismatches>\d+) --native stacks did not pair up)?$", re.M)
PERF_SAMPLES = re.compile(r"\((\d+) samples\)")

AIM_SLOWDOWN = {100: 1.0, 1000: 5.0}  # percent
AIM_DEEP_P99_US = 200
AIM_PYTHON_SLOWDOWN_100 = 1.0  # percent, at 100 Hz, Python frames only and --native
AIM_PYTHON_DEEP_P99_US = 300  # --native at 1000 Hz, work under a deep Python stack

# The interpreters the Python section uses when no --interpreter is given.
DEFAULT_PYENV_MINOR = "3.12"
DEFAULT_SYSTEM_PYTHON = "/usr/bin/python3.11"
PYTHON_CALIBRATION_ROUNDS = 400


class BenchError(Exception):
    pass


class Config:
    def __init__(self, name, fixture_args=None, profiler=None, rate=None, baseline=None, deep=False,
                 target=None, flags=(), interpreter=None):
        self.name = name
        self.fixture_args = fixture_args  # native section: arguments of the fixture
        self.target = target  # Python section: the whole command line of the target
        self.profiler = profiler  # None, "sampler" or "perf"
        self.rate = rate
        self.baseline = baseline  # name of the unprofiled configuration to compare with
        self.deep = deep
        self.flags = list(flags)  # extra sampler flags (--native)
        self.interpreter = interpreter  # Python section: the Interpreter it runs under
        self.runs = []


class Run:
    def __init__(self, wall):
        self.wall = wall
        self.profiler_cpu = None  # seconds, user + sys
        self.samples = None  # thread samples (sampler "stacks") or perf samples
        self.hz = None
        self.p50 = None
        self.p99 = None
        self.errors = 0
        self.truncated = 0
        self.max_frames = None
        self.python_version = None  # what sampler detected in the target
        self.mismatches = 0  # --native stacks whose native and Python parts did not pair up
        self.max_recursion = None  # deep Python runs: most `recurse` frames in one stack
        self.target_cpu = None  # Python runs: CPU time of the work, as the workload measured it
        self.target_wall = None  # Python runs: elapsed time of the work, likewise


class Interpreter:
    def __init__(self, path, version, origin):
        self.path = path
        self.version = version
        self.origin = origin
        self.label = f"CPython {version} ({origin})"
        self.rounds = None
        self.seconds_per_round = None


def spawn(path, argv, stdout="/dev/null", stderr=None, stdout_fd=None):
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    if stdout_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stdout_fd, 1))
    else:
        actions.append((os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    if stderr:
        actions.append((os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
    return os.posix_spawn(path, argv, os.environ, file_actions=actions)


def wait_for(pid, timeout, what):
    """Blocks until pid exits (no polling, so the wall time is exact); returns (status, rusage)."""
    def on_alarm(signum, frame):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _, status, usage = os.wait4(pid, 0)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        os.wait4(pid, 0)
        raise BenchError(f"{what} did not finish within {timeout:.0f} s (killed)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return status, usage


def kill_and_reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def read_line(fd, timeout):
    """Reads up to the first newline from a pipe; returns (line, rest); line is None on EOF."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None, data
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line.decode(errors="replace"), rest


def read_to_end(fd):
    data = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk


def deepest_folded_stack(path):
    deepest = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack = line.rstrip("\n").rsplit(" ", 1)[0]
            if stack:
                deepest = max(deepest, stack.count(";") + 1)
    return deepest


def deepest_python_recursion(path):
    """(deepest stack, most `recurse` frames in one stack) in a folded file of the Python workload."""
    deepest = recursion = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack = line.rstrip("\n").rsplit(" ", 1)[0]
            if stack:
                frames = stack.split(";")
                deepest = max(deepest, len(frames))
                recursion = max(recursion, sum(frame.startswith("recurse (") for frame in frames))
    return deepest, recursion


def sampler_argv(args, config, output, pid):
    return ([args.sampler, "record", "-f", "folded", "-o", output, "-r", str(config.rate)] + config.flags +
            ["--pid", str(pid)])


def run_once(config, args, tmp):
    if config.interpreter:
        return run_python_once(config, args, tmp)
    fixture = [args.workload] + config.fixture_args
    err_path = os.path.join(tmp, "profiler.err")
    out_path = os.path.join(tmp, "profile.out")
    timeout = 120.0

    start = time.monotonic()
    pid = spawn(args.workload, fixture)
    profiler_pid = None
    try:
        if config.profiler == "sampler":
            # The deep run keeps its folded output, to count the frames actually unwound.
            output = out_path if config.deep else "/dev/null"
            argv = sampler_argv(args, config, output, pid)
            profiler_pid = spawn(args.sampler, argv, stderr=err_path)
        elif config.profiler == "perf":
            argv = [args.perf, "record", "-g", "-F", str(config.rate), "-o", out_path, "-p", str(pid)]
            profiler_pid = spawn(args.perf, argv, stderr=err_path)
        status, _ = wait_for(pid, timeout, "the fixture")
        run = Run(time.monotonic() - start)
    except BaseException:
        if profiler_pid is not None:
            os.kill(profiler_pid, signal.SIGKILL)
            os.waitpid(profiler_pid, 0)
        raise
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"{' '.join(fixture)} failed (wait status {status})")
    if profiler_pid is None:
        return run
    finish_profiler_run(config, run, profiler_pid, err_path, out_path, timeout)
    return run


def run_python_once(config, args, tmp):
    """One run of the Python workload: timed from its "ready" line (interpreter up, modules
    imported; the profiler is attached only then) to its exit, which follows its checksum line."""
    err_path = os.path.join(tmp, "profiler.err")
    out_path = os.path.join(tmp, "profile.out")
    target_err = os.path.join(tmp, "target.err")
    timeout = 120.0
    what = f"{config.interpreter.label}: {' '.join(config.target[1:])}"

    read_end, write_end = os.pipe()
    try:
        pid = spawn(config.target[0], config.target, stderr=target_err, stdout_fd=write_end)
    finally:
        os.close(write_end)
    profiler_pid = None
    reaped = False
    try:
        try:
            line, rest = read_line(read_end, 60.0)
        except TimeoutError:
            raise BenchError(f"{what}: no 'ready' line within 60 s (killed)")
        start = time.monotonic()
        if line != "ready":
            got = "it exited first" if line is None else f"got {line!r}"
            raise BenchError(f"{what}: expected 'ready', {got}:\n{read_text(target_err).strip()}")
        if config.profiler == "sampler":
            output = out_path if config.deep else "/dev/null"
            profiler_pid = spawn(args.sampler, sampler_argv(args, config, output, pid), stderr=err_path)
        reaped = True  # by wait_for, also when it times out
        status, _ = wait_for(pid, timeout, what)
        run = Run(time.monotonic() - start)
        tail = rest.decode(errors="replace") + read_to_end(read_end)
    except BaseException:
        if profiler_pid is not None:
            kill_and_reap(profiler_pid)
        if not reaped:
            kill_and_reap(pid)
        raise
    finally:
        os.close(read_end)
    if os.waitstatus_to_exitcode(status) != 0:
        if profiler_pid is not None:
            kill_and_reap(profiler_pid)
        raise BenchError(f"{what} failed (wait status {status}):\n{read_text(target_err).strip()}")
    match = re.fullmatch(r"checksum (\d+) cpu ([\d.]+) wall ([\d.]+)\n?", tail)
    if not match:
        raise BenchError(f"{what}: no checksum line at exit (got {tail!r})")
    checksum = int(match[1])
    run.target_cpu, run.target_wall = float(match[2]), float(match[3])
    rounds = config.target[2]
    expected = args.checksums.setdefault(rounds, checksum)
    if checksum != expected:
        raise BenchError(f"{what}: checksum {checksum}, but another run of {rounds} rounds gave {expected}")
    if profiler_pid is not None:
        finish_profiler_run(config, run, profiler_pid, err_path, out_path, timeout)
    return run


def finish_profiler_run(config, run, profiler_pid, err_path, out_path, timeout):
    name = f"{config.interpreter.label}: {config.name}" if config.interpreter else config.name
    status, usage = wait_for(profiler_pid, timeout, name)
    err = read_text(err_path)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        more = "--python-seconds" if config.interpreter else "--rounds"
        hint = (f"\n(the fixture ran only {run.wall:.2f} s: too short for the profiler to attach? "
                f"raise {more})" if run.wall < 1 else "")
        raise BenchError(f"{name} exited with {code}:\n{err.strip()}{hint}")
    run.profiler_cpu = usage.ru_utime + usage.ru_stime
    if config.profiler == "sampler":
        match = FINAL_LINE.search(err)
        if not match:
            raise BenchError(f"{name}: no summary line in its stderr:\n{err.strip()}")
        run.samples = int(match["stacks"])
        run.hz = float(match["hz"])
        run.p50 = int(match["p50"])
        run.p99 = int(match["p99"])
        run.errors = int(match["errors"])
        run.truncated = int(match["truncated"])
        if config.interpreter:
            python = PYTHON_LINE.search(err)
            if not python:
                raise BenchError(f"{name}: sampler did not read Python frames (no 'sampler: Python' line):\n"
                                 f"{err.strip()}")
            run.python_version = python["version"]
            run.mismatches = int(python["mismatches"] or 0)
        if config.deep and config.interpreter:
            run.max_frames, run.max_recursion = deepest_python_recursion(out_path)
        elif config.deep:
            run.max_frames = deepest_folded_stack(out_path)
    else:
        match = PERF_SAMPLES.search(err)
        if not match:
            raise BenchError(f"{name}: no sample count in its stderr:\n{err.strip()}")
        run.samples = int(match[1])
        run.hz = run.samples / run.wall
    for path in (out_path, err_path):
        if os.path.exists(path):
            os.remove(path)


def check_perf(tmp):
    """Returns (perf path, None, event) if `perf record -g` works here, else (None, reason, None)."""
    perf = shutil.which("perf")
    if not perf:
        return None, "perf not on PATH; on Debian: apt-get install linux-perf", None
    data = os.path.join(tmp, "probe.data")
    try:
        probe = subprocess.run([perf, "record", "-q", "-g", "-F", "100", "-o", data, "--", "true"],
                               capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "perf record -- true did not finish within 60 s", None
    if probe.returncode != 0:
        text = (probe.stderr + probe.stdout).strip().splitlines()
        reason = next((line.strip() for line in text if line.strip()), f"exit status {probe.returncode}")
        paranoid = read_text("/proc/sys/kernel/perf_event_paranoid").strip() or "?"
        return None, f"`perf record -g` failed: {reason} (kernel.perf_event_paranoid={paranoid})", None
    event = subprocess.run([perf, "evlist", "-i", data], capture_output=True, text=True).stdout.strip()
    os.remove(data)
    return perf, None, event or "?"


def busy_cpu_seconds():
    """CPU time used on the whole machine so far (all processes, the kernel), from /proc/stat."""
    fields = read_text("/proc/stat").split("\n", 1)[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU time of this script and of every process it has reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OthersMeter:
    """CPU used by other processes (not this script or its reaped children) since it was made.
    `also_ours` (optional) returns the CPU seconds of processes that count as ours though they
    are not reaped children yet (web.py's server)."""

    def __init__(self, also_ours=None):
        self.also_ours = also_ours or (lambda: 0.0)
        self.began = time.monotonic()
        self.busy = busy_cpu_seconds()
        self.own = self.ours()

    def ours(self):
        return own_cpu_seconds() + self.also_ours()

    def share(self):
        """Share of one CPU, in percent."""
        others = (busy_cpu_seconds() - self.busy) - (self.ours() - self.own)
        return max(others, 0) / max(time.monotonic() - self.began, 1e-9) * 100


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percent(ratio):
    return f"{(ratio - 1) * 100:+.1f}%"


def rate_caveat(config):
    achieved = median([r.hz for r in config.runs])
    if achieved >= 0.9 * config.rate:
        return ""
    return f", but sampler achieved only {achieved:.0f} Hz of {config.rate}"


def share_used_by_others(seconds):
    """Share of one CPU used by other processes over the next few seconds, in percent."""
    busy, own = busy_cpu_seconds(), own_cpu_seconds()
    time.sleep(seconds)
    return max((busy_cpu_seconds() - busy) - (own_cpu_seconds() - own), 0) / seconds * 100


def describe_commit(root):
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head = ""
    return head or "unknown commit"


def paired(config, other):
    """Median over the rounds of config's wall / other's wall in the same round."""
    return median([a.wall / b.wall for a, b in zip(config.runs, other.runs)])


def run_rounds(configs, runs, began, args, tmp, label=""):
    for rep in range(runs):
        meter = OthersMeter()
        # Rotate the order, so no configuration always follows the same neighbour.
        order = configs[rep % len(configs):] + configs[:rep % len(configs)]
        for config in order:
            config.runs.append(run_once(config, args, tmp))
        print(f"  {label}round {rep + 1}/{runs} done ({time.monotonic() - began:.0f} s); other processes "
              f"used {meter.share():.0f}% of one CPU meanwhile", file=sys.stderr, flush=True)


def off_cpu(config):
    """Python runs: median of (elapsed / CPU time of the work) - 1, as the workload measured them,
    in percent: the time it was not running (stopped, or waiting for a CPU) over its running time."""
    return median([(r.target_wall / r.target_cpu - 1) * 100 if r.target_cpu else None for r in config.runs])


def print_table(configs, by_name, python=False):
    """Prints the table of a section; returns its rows (the cells as printed) and the slowdowns.
    The Python section's table has no "vs perf" column, and an "off-CPU" one."""
    slowdowns = {c.name: paired(c, by_name[c.baseline]) for c in configs if c.baseline}
    header = ["configuration", "wall", "spread", "slowdown", "vs perf", "samples/s",
              "pause p50", "pause p99", "(worst)", "~stopped", "CPU/sample", "off-CPU"]
    rows = []
    for c in configs:
        wall = median([r.wall for r in c.runs])
        spread = (max(r.wall for r in c.runs) - min(r.wall for r in c.runs)) / wall * 100
        row = [c.name, f"{wall:.3f} s", f"{spread:.1f}%"] + ["-"] * 9
        if c.baseline:
            row[3] = percent(slowdowns[c.name])
        perf_twin = by_name.get(f"perf -g -F {c.rate}")
        if c.profiler == "sampler" and not c.deep and perf_twin:
            row[4] = percent(paired(c, perf_twin))
        if c.profiler:
            row[5] = f"{median([r.hz for r in c.runs]):.0f}"
            cpu = median([r.profiler_cpu / r.samples * 1e6 if r.samples else None for r in c.runs])
            row[10] = f"{cpu:.0f} us" if cpu is not None else "-"
        if c.profiler == "sampler":
            row[6] = f"{median([r.p50 for r in c.runs]):.0f} us"
            row[7] = f"{median([r.p99 for r in c.runs]):.0f} us"
            row[8] = f"{max(r.p99 for r in c.runs)} us"
            row[9] = f"{median([r.hz * r.p50 / 1e4 for r in c.runs]):.2f}%"
        if python:
            row[11] = f"{off_cpu(c):.2f}%"
        rows.append(row)
    columns = [0, 1, 2, 3, 11, 5, 6, 7, 8, 9, 10] if python else list(range(11))
    shown = [[row[i] for i in columns] for row in [header] + rows]
    widths = [max(len(str(row[i])) for row in shown) for i in range(len(columns))]
    for row in shown:
        cells = [str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                 for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip())
    return rows, slowdowns


def problems_of(configs, prefix=""):
    problems = []
    for c in configs:
        errors = sum(r.errors for r in c.runs)
        truncated = sum(r.truncated for r in c.runs)
        mismatches = sum(r.mismatches for r in c.runs)
        if errors or truncated:
            problems.append(f"{prefix}{c.name}: {errors} errors, {truncated} truncated stacks over "
                            f"{len(c.runs)} runs")
        if mismatches:
            problems.append(f"{prefix}{c.name}: {mismatches} --native stacks did not pair up over "
                            f"{len(c.runs)} runs")
    return problems


def run_native_section(args, tmp, began):
    if args.no_perf:
        args.perf, perf_reason, perf_event = None, None, None
    else:
        args.perf, perf_reason, perf_event = check_perf(tmp)

    bench = ["bench", str(args.rounds)]
    deep = ["bench-deep", str(args.rounds), str(args.depth)]
    configs = [Config("unprofiled", bench),
               Config("unprofiled again", bench, baseline="unprofiled")]  # the noise floor
    for rate in (100, 1000):
        configs.append(Config(f"sampler -r {rate}", bench, "sampler", rate, "unprofiled"))
        if args.perf:
            configs.append(Config(f"perf -g -F {rate}", bench, "perf", rate, "unprofiled"))
    configs.append(Config(f"unprofiled, {args.depth} deep", deep))
    configs.append(Config(f"sampler -r 1000, {args.depth} deep", deep, "sampler", 1000,
                          f"unprofiled, {args.depth} deep", deep=True))
    by_name = {c.name: c for c in configs}

    print(f"native section: workload bench {args.rounds} (fixed CPU work; -O2, no frame "
          f"pointers), {args.runs} runs per configuration, interleaved; figures are medians", flush=True)
    if args.perf:
        print(f"perf: available ({args.perf}, event {perf_event}, "
              f"kernel.perf_event_paranoid={read_text('/proc/sys/kernel/perf_event_paranoid').strip()})")
    elif perf_reason:
        print(f"perf: unavailable ({perf_reason})")
    else:
        print("perf: skipped (--no-perf)")
    sys.stdout.flush()

    share = share_used_by_others(2)
    if share > 20:
        print(f"warning: the machine is busy (other processes use {share:.0f}% of one CPU): expect noise",
              flush=True)
    meter = OthersMeter()
    # Warm-up (page cache, CPU frequency), not counted.
    run_once(configs[0], args, tmp)
    run_once(by_name["sampler -r 100"], args, tmp)
    run_rounds(configs, args.runs, began, args, tmp, "native ")
    others_share = meter.share()

    print()
    rows, slowdowns = print_table(configs, by_name)
    print()
    print("""\
wall: the fixture's own spawn-to-exit time; spread: (max - min) / median over the runs.
slowdown: wall / the unprofiled wall of the same work in the same round, median over the rounds;
  vs perf: likewise against perf -g at the same rate. "unprofiled again" shows the noise floor.
pause: how long each thread sample kept the target stopped (sampler's own p50/p99 of each run):
  median over the runs, and the worst run's p99. ~stopped: share of the time the target was
  stopped, estimated as samples/s x p50 pause: the direct cost, untouched by the machine's noise.
CPU/sample: the profiler process's user+sys time over its samples, start-up and output included
  (perf's in-kernel sampling and unwinding are charged to the target, not to perf).""")

    if args.raw:
        print()
        for c in configs:
            print(f"raw {c.name}: " + " ".join(f"{r.wall:.3f}" for r in c.runs))
    problems = problems_of(configs)
    deep_config = by_name[f"sampler -r 1000, {args.depth} deep"]
    frames = max(r.max_frames or 0 for r in deep_config.runs)
    print(f"deep run: deepest stack unwound {frames} frames ({args.depth} recursive frames + main, "
          f"libc start-up and the work)")
    for note in problems:
        print(f"warning: {note}")

    print()
    print("aims:")
    for rate, aim in AIM_SLOWDOWN.items():
        name = f"sampler -r {rate}"
        slowdown = (slowdowns[name] - 1) * 100
        verdict = "met" if slowdown <= aim else f"MISSED by {slowdown - aim:.1f} points"
        verdict += rate_caveat(by_name[name])
        print(f"  slowdown at {rate} Hz <= {aim:.0f}%: {slowdown:+.1f}% -> {verdict}")
    p99 = median([r.p99 for r in deep_config.runs])
    verdict = "met" if p99 <= AIM_DEEP_P99_US else f"MISSED by {p99 - AIM_DEEP_P99_US:.0f} us"
    verdict += rate_caveat(deep_config)
    noise = (slowdowns["unprofiled again"] - 1) * 100
    noise_spread = max(float(row[2].rstrip("%")) for row in rows[:2])
    print(f"  (noise floor: unprofiled vs itself {noise:+.1f}%, spread of the unprofiled runs up to "
          f"{noise_spread:.1f}%; slowdowns within that are not resolved)")
    print(f"  p99 pause <= {AIM_DEEP_P99_US} us for a {args.depth}-frame stack (1000 Hz): "
          f"{p99:.0f} us -> {verdict}")
    print(f"native section: other processes used {others_share:.0f}% of one CPU meanwhile")


def pyenv_root():
    for candidate in (shutil.which("pyenv"), os.path.expanduser("~/.pyenv/bin/pyenv")):
        if candidate and os.access(candidate, os.X_OK):
            try:
                out = subprocess.run([candidate, "root"], capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            root = out.stdout.strip()
            if out.returncode == 0 and os.path.isdir(root):
                return root
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def probe_interpreter(path, origin):
    """An Interpreter for path, or raises BenchError saying why it cannot be used."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BenchError(f"{path}: not found")
    try:
        out = subprocess.run([path, "-c", "import sys; print(sys.implementation.name, "
                                          "'%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchError(f"{path}: does not run ({error})")
    fields = out.stdout.split()
    if out.returncode != 0 or len(fields) != 2:
        raise BenchError(f"{path}: does not run ({(out.stderr or out.stdout).strip()[:200]})")
    if fields[0] != "cpython":
        raise BenchError(f"{path}: {fields[0]}, not CPython")
    return Interpreter(path, fields[1], origin)


def find_interpreters(args):
    """([Interpreter], [notes on default interpreters that are missing])."""
    if args.interpreter:
        return [probe_interpreter(path, path) for path in args.interpreter], []
    found, missing = [], []
    versions = os.path.join(pyenv_root(), "versions")
    patches = sorted((int(m[1]), path) for path in glob.glob(os.path.join(versions, DEFAULT_PYENV_MINOR + ".*"))
                     if (m := re.fullmatch(re.escape(DEFAULT_PYENV_MINOR) + r"\.(\d+)", os.path.basename(path))))
    candidates = []
    if patches:
        candidates.append((os.path.join(patches[-1][1], "bin", "python" + DEFAULT_PYENV_MINOR), "pyenv"))
    else:
        missing.append(f"pyenv CPython {DEFAULT_PYENV_MINOR}: not installed under {versions}")
    candidates.append((DEFAULT_SYSTEM_PYTHON, "Debian"))
    for path, origin in candidates:
        try:
            found.append(probe_interpreter(path, origin))
        except BenchError as error:
            missing.append(f"{origin}: {error}")
    return found, missing


def calibrate(interpreter, args, tmp):
    """Sets interpreter.rounds: --python-rounds, or as many rounds as take --python-seconds here.
    The calibration run doubles as the unprofiled warm-up. It goes by the CPU time the workload
    measured, not by the wall time, so a busy machine does not shrink the runs."""
    config = Config("calibration", target=[interpreter.path, args.python_workload,
                                           str(PYTHON_CALIBRATION_ROUNDS)], interpreter=interpreter)
    run = run_once(config, args, tmp)
    interpreter.seconds_per_round = run.target_cpu / PYTHON_CALIBRATION_ROUNDS
    if args.python_rounds:
        interpreter.rounds = args.python_rounds
    else:
        interpreter.rounds = max(100, round(args.python_seconds / interpreter.seconds_per_round / 100) * 100)


def python_configs(interpreter, args):
    depth = args.python_depth
    work = [interpreter.path, args.python_workload, str(interpreter.rounds)]
    deep_work = work + ["--depth", str(depth)]
    deep_base = f"unprofiled, {depth} deep"
    configs = [Config("unprofiled", target=work, interpreter=interpreter),
               Config("unprofiled again", target=work, baseline="unprofiled", interpreter=interpreter)]
    for flags in ([], ["--native"]):
        for rate in (100, 1000):
            name = " ".join(["sampler"] + flags + ["-r", str(rate)])
            configs.append(Config(name, profiler="sampler", rate=rate, baseline="unprofiled", target=work,
                                  flags=flags, interpreter=interpreter))
    configs.append(Config(deep_base, target=deep_work, interpreter=interpreter))
    for flags in ([], ["--native"]):
        name = " ".join(["sampler"] + flags + ["-r", "1000"]) + f", {depth} deep"
        configs.append(Config(name, profiler="sampler", rate=1000, baseline=deep_base, target=deep_work,
                              deep=True, flags=flags, interpreter=interpreter))
    return configs


def run_python_section(args, tmp, began):
    interpreters, missing = find_interpreters(args)
    print(f"python section: {os.path.relpath(args.python_workload, args.root)} (fixed pure-Python and json "
          f"work, ~{args.python_seconds:g} s), {args.python_runs} runs per configuration, interleaved; "
          f"figures are medians", flush=True)
    for note in missing:
        print(f"python: unavailable ({note})")
    if not interpreters:
        print("python section: skipped (no interpreter)")
        return
    share = share_used_by_others(2)
    if share > 20:
        print(f"warning: the machine is busy (other processes use {share:.0f}% of one CPU): expect noise",
              flush=True)
    meter = OthersMeter()
    configs = []
    for interpreter in interpreters:
        calibrate(interpreter, args, tmp)
        group = python_configs(interpreter, args)
        # A short warm-up with sampler (page cache, the interpreter's debug information), not counted.
        # About a second of work: the calibration's rounds take 0.13 s under Debian's python3.11,
        # which ended before sampler had attached.
        warm_rounds = max(PYTHON_CALIBRATION_ROUNDS, round(1.0 / interpreter.seconds_per_round))
        run_once(Config("warm-up", profiler="sampler", rate=100, flags=["--native"], interpreter=interpreter,
                        target=[interpreter.path, args.python_workload, str(warm_rounds)]),
                 args, tmp)
        configs += group
        print(f"{interpreter.label}: {interpreter.path}, {interpreter.rounds} rounds "
              f"({'--python-rounds' if args.python_rounds else 'calibrated'}; "
              f"{interpreter.seconds_per_round * 1e3:.2f} ms CPU per round unprofiled)", flush=True)
    run_rounds(configs, args.python_runs, began, args, tmp, "python ")
    others_share = meter.share()

    depth = args.python_depth
    for interpreter in interpreters:
        group = [c for c in configs if c.interpreter is interpreter]
        by_name = {c.name: c for c in group}
        print()
        print(f"{interpreter.label}, {interpreter.rounds} rounds:")
        rows, slowdowns = print_table(group, by_name, python=True)
        detected = sorted({r.python_version for c in group for r in c.runs if r.python_version})
        if detected != [interpreter.version]:
            print(f"warning: sampler reported Python {', '.join(detected)} for {interpreter.version}")
        for config in group:
            if config.deep:
                frames = max(r.max_frames or 0 for r in config.runs)
                recursion = min(r.max_recursion or 0 for r in config.runs)
                note = "" if recursion >= depth else f" (warning: fewer than {depth})"
                print(f"{config.name}: deepest stack {frames} frames, {recursion} `recurse` frames in the "
                      f"deepest stack of every run{note}")
        if args.raw:
            for c in group:
                print(f"raw {c.name}: " + " ".join(f"{r.wall:.3f}" for r in c.runs))
        for note in problems_of(group):
            print(f"warning: {note}")
        noise = (slowdowns["unprofiled again"] - 1) * 100
        noise_spread = max(float(row[2].rstrip("%")) for row in rows[:2])
        base_off_cpu = off_cpu(by_name["unprofiled"])
        print(f"aims ({interpreter.label}):")
        print(f"  (noise floor: unprofiled vs itself {noise:+.1f}%, spread of the unprofiled runs up to "
              f"{noise_spread:.1f}%; slowdowns within that are not resolved)")
        for name in ("sampler -r 100", "sampler --native -r 100"):
            slowdown = (slowdowns[name] - 1) * 100
            aim = AIM_PYTHON_SLOWDOWN_100
            verdict = "met" if slowdown <= aim else f"MISSED by {slowdown - aim:.1f} points"
            if abs(noise) > aim or noise_spread > aim:
                verdict += " (not resolved: the noise floor is above the aim)"
            verdict += rate_caveat(by_name[name])
            extra = off_cpu(by_name[name]) - base_off_cpu
            print(f"  slowdown of {name} <= {aim:.0f}%: {slowdown:+.1f}% -> {verdict}; off-CPU "
                  f"{extra:+.2f} points over unprofiled -> {'within' if extra <= aim else 'above'} the aim")
        deep_config = by_name[f"sampler --native -r 1000, {depth} deep"]
        p99 = median([r.p99 for r in deep_config.runs])
        verdict = "met" if p99 <= AIM_PYTHON_DEEP_P99_US else f"MISSED by {p99 - AIM_PYTHON_DEEP_P99_US:.0f} us"
        verdict += rate_caveat(deep_config)
        print(f"  p99 pause <= {AIM_PYTHON_DEEP_P99_US} us for a {depth}-deep Python stack with --native "
              f"(1000 Hz): {p99:.0f} us -> {verdict}")
    print()
    print("""\
wall: the workload's time from its "ready" line (interpreter up, modules imported; the profiler
  is attached only then) to its exit. slowdown, spread, pause, ~stopped, CPU/sample: as above.
off-CPU: (elapsed / CPU time) - 1 of the work, as the workload measured it: the time it was not
  running (stopped by sampler, or waiting for a CPU). Unlike the wall time, it does not move when
  the CPU's speed does (on a shared host, Python's speed can change twofold within seconds).
sampler -r HZ reads the Python frames of each stopped thread (the default); --native also
  copies its native stack and merges the two.""")
    print(f"python section: other processes used {others_share:.0f}% of one CPU meanwhile")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--root", required=True, help="source tree (for the commit id)")
    parser.add_argument("--only", choices=("native", "python"),
                        help="run only this section (default: both, native first)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 2800)),
                        help="native: work per run, in `workload bench` rounds (default 2800, ~3.4 s here)")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 5)),
                        help="native: runs per configuration (default 5, at least 3)")
    parser.add_argument("--depth", type=int, default=64, help="native: recursion depth of the deep run")
    parser.add_argument("--no-perf", action="store_true", help="native: skip the perf configurations")
    parser.add_argument("--python-runs", type=int, default=3,
                        help="python: runs per configuration (default 3, at least 3)")
    parser.add_argument("--python-seconds", type=float, default=3.0,
                        help="python: size each run to about this much CPU time unprofiled (default 3)")
    parser.add_argument("--python-rounds", type=int,
                        help="python: work per run in workload.py rounds, for every interpreter "
                             "(default: calibrated to --python-seconds)")
    parser.add_argument("--python-depth", type=int, default=50,
                        help="python: Python recursion depth of the deep runs (default 50)")
    parser.add_argument("--interpreter", action="append", metavar="PATH",
                        help="python: a CPython to measure (repeatable; default: pyenv's newest "
                             f"{DEFAULT_PYENV_MINOR} and {DEFAULT_SYSTEM_PYTHON})")
    parser.add_argument("--python-workload", help="python: the workload script (default: "
                                                  "tests/fixtures/python_bench/workload.py in --root)")
    parser.add_argument("--raw", action="store_true", help="also print every run's wall time")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")
    if args.python_runs < 3:
        parser.error("--python-runs must be at least 3")
    if args.python_depth < 1 or (args.python_rounds is not None and args.python_rounds < 1):
        parser.error("--python-depth and --python-rounds must be positive")
    if args.python_seconds <= 0:
        parser.error("--python-seconds must be positive")
    args.python_workload = os.path.abspath(args.python_workload or os.path.join(
        args.root, "tests", "fixtures", "python_bench", "workload.py"))
    if args.only != "native" and not os.path.isfile(args.python_workload):
        parser.error(f"{args.python_workload}: not found")
    args.checksums = {}  # Python workload: rounds -> checksum, the same in every run

    began = time.monotonic()
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
    load_before = read_text("/proc/loadavg").split()[:3]
    with tempfile.TemporaryDirectory(prefix="sampler-bench-") as tmp:
        # A private copy, so a rebuild of build/src/sampler during the run cannot change it.
        private = os.path.join(tmp, "sampler")
        shutil.copy2(args.sampler, private)
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(args.sampler).st_mtime))
        args.sampler = private

        sections = [args.only] if args.only else ["native", "python"]
        print(f"sampler overhead benchmark: {' and '.join(sections)} section{'s' if len(sections) > 1 else ''}")
        print(f"sampler: {describe_commit(args.root)}, binary built {built}; {os.cpu_count()} CPUs; "
              f"load average before {' '.join(load_before)}", flush=True)
        for section in sections:
            print()
            if section == "native":
                run_native_section(args, tmp, began)
            else:
                run_python_section(args, tmp, began)

    load_after = read_text("/proc/loadavg").split()[:3]
    others = (busy_cpu_seconds() - busy_before) - (own_cpu_seconds() - own_before)
    others_share = max(others, 0) / (time.monotonic() - began) * 100
    print()
    print(f"load average after {' '.join(load_after)}; other processes used {others_share:.0f}% of one "
          f"CPU during the run (of {os.cpu_count() * 100}%); total {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)

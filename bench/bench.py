#!/usr/bin/env python3
"""Overhead benchmark for sampler (run through bench/run.sh; see bench/README.md).

Times a fixed amount of CPU work in the -O2 fixture (`workload bench ROUNDS`) unprofiled, under
sampler and under `perf record -g`, at 100 Hz and 1000 Hz, plus sampler at 1000 Hz on the same
work done 64 frames deep (`workload bench-deep ROUNDS DEPTH`), and prints one table.

Every run starts the fixture itself and attaches the profiler by PID, so the wall time measured
is the fixture's own, from spawn to exit: not the profiler's start-up or the writing of its
output. The profiler's CPU comes from its rusage (wait4). Runs of all configurations are
interleaved, so slow drifts in the machine's load hit every configuration alike; each figure is
the median over the runs. Standard library only.
"""

import argparse
import os
import re
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
PERF_SAMPLES = re.compile(r"\((\d+) samples\)")

AIM_SLOWDOWN = {100: 1.0, 1000: 5.0}  # percent
AIM_DEEP_P99_US = 200


class BenchError(Exception):
    pass


class Config:
    def __init__(self, name, fixture_args, profiler=None, rate=None, baseline=None, deep=False):
        self.name = name
        self.fixture_args = fixture_args
        self.profiler = profiler  # None, "sampler" or "perf"
        self.rate = rate
        self.baseline = baseline  # name of the unprofiled configuration to compare with
        self.deep = deep
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


def spawn(path, argv, stdout="/dev/null", stderr=None):
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
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


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def deepest_folded_stack(path):
    deepest = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack = line.rstrip("\n").rsplit(" ", 1)[0]
            if stack:
                deepest = max(deepest, stack.count(";") + 1)
    return deepest


def run_once(config, args, tmp):
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
            argv = [args.sampler, "record", "-f", "folded", "-o", output, "-r", str(config.rate),
                    "--pid", str(pid)]
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

    status, usage = wait_for(profiler_pid, timeout, config.name)
    err = read_text(err_path)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        hint = (f"\n(the fixture ran only {run.wall:.2f} s: too short for the profiler to attach? "
                f"raise --rounds)" if run.wall < 1 else "")
        raise BenchError(f"{config.name} exited with {code}:\n{err.strip()}{hint}")
    run.profiler_cpu = usage.ru_utime + usage.ru_stime
    if config.profiler == "sampler":
        match = FINAL_LINE.search(err)
        if not match:
            raise BenchError(f"{config.name}: no summary line in its stderr:\n{err.strip()}")
        run.samples = int(match["stacks"])
        run.hz = float(match["hz"])
        run.p50 = int(match["p50"])
        run.p99 = int(match["p99"])
        run.errors = int(match["errors"])
        run.truncated = int(match["truncated"])
        if config.deep:
            run.max_frames = deepest_folded_stack(out_path)
    else:
        match = PERF_SAMPLES.search(err)
        if not match:
            raise BenchError(f"{config.name}: no sample count in its stderr:\n{err.strip()}")
        run.samples = int(match[1])
        run.hz = run.samples / run.wall
    for path in (out_path, err_path):
        if os.path.exists(path):
            os.remove(path)
    return run


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--root", required=True, help="source tree (for the commit id)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 2800)),
                        help="work per run, in `workload bench` rounds (default 2800, ~3.4 s here)")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 5)),
                        help="runs per configuration (default 5, at least 3)")
    parser.add_argument("--depth", type=int, default=64, help="recursion depth of the deep run")
    parser.add_argument("--no-perf", action="store_true", help="skip the perf configurations")
    parser.add_argument("--raw", action="store_true", help="also print every run's wall time")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3")

    began = time.monotonic()
    busy_before, own_before = busy_cpu_seconds(), own_cpu_seconds()
    load_before = read_text("/proc/loadavg").split()[:3]
    with tempfile.TemporaryDirectory(prefix="sampler-bench-") as tmp:
        # A private copy, so a rebuild of build/src/sampler during the run cannot change it.
        private = os.path.join(tmp, "sampler")
        shutil.copy2(args.sampler, private)
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(args.sampler).st_mtime))
        args.sampler = private

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

        print(f"sampler overhead benchmark: workload bench {args.rounds} (fixed CPU work; -O2, no frame "
              f"pointers), {args.runs} runs per configuration, interleaved; figures are medians", flush=True)
        print(f"sampler: {describe_commit(args.root)}, binary built {built}; {os.cpu_count()} CPUs; "
              f"load average before {' '.join(load_before)}", flush=True)
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
        # Warm-up (page cache, CPU frequency), not counted.
        run_once(configs[0], args, tmp)
        run_once(by_name["sampler -r 100"], args, tmp)
        for rep in range(args.runs):
            round_began = time.monotonic()
            round_busy, round_own = busy_cpu_seconds(), own_cpu_seconds()
            # Rotate the order, so no configuration always follows the same neighbour.
            order = configs[rep % len(configs):] + configs[:rep % len(configs)]
            for config in order:
                config.runs.append(run_once(config, args, tmp))
            others = (busy_cpu_seconds() - round_busy) - (own_cpu_seconds() - round_own)
            share = max(others, 0) / (time.monotonic() - round_began) * 100
            print(f"  round {rep + 1}/{args.runs} done ({time.monotonic() - began:.0f} s); other processes "
                  f"used {share:.0f}% of one CPU meanwhile", file=sys.stderr, flush=True)

    load_after = read_text("/proc/loadavg").split()[:3]
    others = (busy_cpu_seconds() - busy_before) - (own_cpu_seconds() - own_before)
    others_share = max(others, 0) / (time.monotonic() - began) * 100
    walls = {c.name: median([r.wall for r in c.runs]) for c in configs}

    def paired(config, other):
        """Median over the rounds of config's wall / other's wall in the same round."""
        return median([a.wall / b.wall for a, b in zip(config.runs, other.runs)])

    slowdowns = {c.name: paired(c, by_name[c.baseline]) for c in configs if c.baseline}

    header = ["configuration", "wall", "spread", "slowdown", "vs perf", "samples/s",
              "pause p50", "pause p99", "(worst)", "~stopped", "CPU/sample"]
    rows = []
    for c in configs:
        wall = walls[c.name]
        spread = (max(r.wall for r in c.runs) - min(r.wall for r in c.runs)) / wall * 100
        row = [c.name, f"{wall:.3f} s", f"{spread:.1f}%"] + ["-"] * 8
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
        rows.append(row)
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    print()
    for row in [header] + rows:
        cells = [str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                 for i, cell in enumerate(row)]
        print("  ".join(cells).rstrip())
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
    problems = []
    for c in configs:
        errors = sum(r.errors for r in c.runs)
        truncated = sum(r.truncated for r in c.runs)
        if errors or truncated:
            problems.append(f"{c.name}: {errors} errors, {truncated} truncated stacks over {len(c.runs)} runs")
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

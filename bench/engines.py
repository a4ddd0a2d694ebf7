#!/usr/bin/env python3
"""Capture engines side by side: sampler's perf_event engine, its ptrace engine, and perf.

Each run starts a fixed amount of work (a C++ fixture or a Python workload), attaches one
profiler to it by PID until it exits, and reads every process's CPU time from the kernel
(wait4's rusage). The primary figures are the ones machine noise does not blur:

- kept: perf_event engine: its own figure, thread samples received / (the threads' CPU time over
  the sampled span, from their task clocks, x the rate); perf: samples / (the target's CPU
  seconds x the rate), which also counts the target's time before perf attached; ptrace engine: the rounds it achieved / the rounds requested (it samples every running
  thread each round, and counts a runnable thread waiting for a CPU as running);
- CPU/sample: the profiler's own CPU per thread sample. For sampler, its figure from the first
  samples on (start-up excluded, from its summary); "steady" is its figure from one second later
  on (the first second also reads each new stack's symbols, line tables and code objects, once);
  "all-in" is its whole rusage / samples, as for perf;
- target sys: the target's system time, which a profiler that stops threads inflates;
- torn: Python reads dropped because the stack kept changing (perf_event engine only).

Wall-time slowdowns are printed too, against unprofiled runs in the same round, but on a shared
VM they vary by up to 30% between identical runs: read them as a sanity check only.

    bench/engines.py --sampler build/src/sampler --workload build/tests/fixtures/workload \
        --python-workload tests/fixtures/python_bench/workload.py [--python PATH] [--runs N]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SUMMARY = re.compile(r"\((?P<hz>[\d.]+) Hz of [\d.]+ Hz requested\), (?P<stacks>\d+) stacks")
FROM_START = re.compile(r"own CPU while sampling \(start-up excluded\) [\d.]+ s: (?P<us>[\d.]+) us per thread sample")
STEADY = re.compile(r"own CPU in steady state \([^)]*\) [\d.]+ s: (?P<us>[\d.]+) us per thread sample")
PERF_ENGINE = re.compile(r"perf_event engine: .*?; (?P<received>\d+) thread samples, (?P<kept>[\d.]+)% of the .*?; "
                         r"(?P<lost>\d+) lost, (?P<torn>\d+) torn")
PERF_SAMPLES = re.compile(r"\((\d+) samples\)")


def spawn(argv, stdout=subprocess.DEVNULL):
    return subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL)


def wait_rusage(process, timeout):
    """Reaps `process`; returns (exit status, user+sys seconds, sys seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_utime + usage.ru_stime, usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("%s did not finish in %d s" % (process.args[0], timeout))
        time.sleep(0.005)


class Workload:
    def __init__(self, name, argv, python=False, threads=1):
        self.name, self.argv, self.python, self.threads = name, argv, python, threads

    def start(self):
        # The Python workload says "ready" once imported; the C++ one starts at once.
        process = subprocess.Popen(self.argv, stdout=subprocess.PIPE if self.python else subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, text=True)
        if self.python:
            line = process.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError("%s did not start: %r" % (self.name, line))
        return process


def profiler_argv(kind, args, pid, rate, tmp, extra):
    if kind == "perf":
        return ["perf", "record", "-e", "cpu-clock", "-F", str(rate), "--call-graph", "dwarf", "-o",
                os.path.join(tmp, "perf.data"), "-p", str(pid)]
    argv = [args.sampler, "record", "-f", "folded", "-o", os.path.join(tmp, "out.txt"), "-r", str(rate),
            "--pid", str(pid)] + extra
    if kind == "ptrace":
        argv += ["--capture", "ptrace"]
    elif kind == "sampler":
        argv += ["--capture", "perf"]
    return argv


def run_once(workload, kind, rate, extra, args, tmp):
    target = workload.start()
    began = time.monotonic()
    profiler = None
    err_path = os.path.join(tmp, "err.txt")
    if kind != "none":
        with open(err_path, "w") as err:
            profiler = subprocess.Popen(profiler_argv(kind, args, target.pid, rate, tmp, extra),
                                        stdout=subprocess.DEVNULL, stderr=err)
    _, target_cpu, target_sys = wait_rusage(target, 600)
    wall = time.monotonic() - began
    result = {"wall": wall, "target_cpu": target_cpu, "target_sys": target_sys}
    if profiler is None:
        return result
    if kind == "perf":
        profiler.send_signal(2)  # perf record -p stays until interrupted
    code, profiler_cpu, _ = wait_rusage(profiler, 120)
    text = open(err_path).read()
    if kind == "perf":
        match = PERF_SAMPLES.search(text)
        samples = int(match.group(1)) if match else 0
        result.update(samples=samples, from_start_us=None, steady_us=None, torn=0)
    else:
        if code != 0:
            raise RuntimeError("sampler failed (%d): %s" % (code, text[-400:]))
        summary, engine = SUMMARY.search(text), PERF_ENGINE.search(text)
        from_start, steady = FROM_START.search(text), STEADY.search(text)
        samples = int(engine.group("received")) if engine else int(summary.group("stacks"))
        result.update(samples=samples, from_start_us=float(from_start.group("us")) if from_start else None,
                      steady_us=float(steady.group("us")) if steady else None,
                      torn=int(engine.group("torn")) if engine else 0)
        if engine:
            # Its own figure: samples against the threads' CPU time over exactly the sampled
            # span (the target's whole CPU time also covers sampler's start-up, unsampled).
            result["kept_rounds"] = float(engine.group("kept")) / 100
        else:
            # The ptrace engine: its rounds kept (each round samples every selected thread).
            result["kept_rounds"] = float(summary.group("hz")) / rate
    result["profiler_cpu"] = profiler_cpu
    result["all_in_us"] = 1e6 * profiler_cpu / max(1, result["samples"])
    result["kept"] = result.get("kept_rounds", result["samples"] / max(1e-9, target_cpu * rate))
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, suffix=""):
    return "-" if value is None else format(value, spec) + suffix


def run_table(title, workload, configs, args, tmp):
    print("\n%s (%d runs each, medians)" % (title, args.runs), flush=True)
    results = {name: [] for name, *_ in configs}
    baseline = {}
    for round_number in range(args.runs):
        order = configs[round_number % len(configs):] + configs[:round_number % len(configs)]
        for name, kind, rate, extra in order:
            outcome = run_once(workload, kind, rate, extra, args, tmp)
            if kind == "none":
                baseline[round_number] = outcome
            outcome["round"] = round_number
            results[name].append(outcome)
    print("%-34s %7s %7s %10s %10s %10s %10s %9s %9s %6s" % ("configuration", "wall", "slowdn", "kept",
                                                              "CPU/sample", "steady", "all-in", "prof CPU",
                                                              "target sys", "torn"))
    for name, kind, rate, extra in configs:
        runs = results[name]
        slowdowns = [r["wall"] / baseline[r["round"]]["wall"] for r in runs if r["round"] in baseline]
        prof_share = [r["profiler_cpu"] / r["wall"] for r in runs if "profiler_cpu" in r]
        torn = [r["torn"] / max(1, r["samples"]) for r in runs if "torn" in r]
        print("%-34s %6.2fs %7s %10s %10s %10s %10s %9s %9s %6s" % (
            name, median([r["wall"] for r in runs]), fmt(median(slowdowns), ".3f", "x"),
            fmt(median([r.get("kept") for r in runs]) and 100 * median([r.get("kept") for r in runs]), ".1f", "%"),
            fmt(median([r.get("from_start_us") for r in runs]), ".1f", " us"),
            fmt(median([r.get("steady_us") for r in runs]), ".1f", " us"),
            fmt(median([r.get("all_in_us") for r in runs]), ".1f", " us"),
            fmt(median(prof_share) and 100 * median(prof_share), ".1f", "%"),
            fmt(median([r["target_sys"] for r in runs]), ".3f", "s"),
            fmt(median(torn) and 100 * median(torn), ".2f", "%") if torn else "-"), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--workload", required=True, help="the C++ fixture (tests/fixtures/workload)")
    parser.add_argument("--python-workload", required=True)
    parser.add_argument("--python", help="CPython for the Python tables (default: pyenv's 3.12)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2400, help="C++ work per thread (~3 s)")
    parser.add_argument("--python-rounds", type=int, default=3000,
                        help="Python work per run (3000: about 2 s of one thread here)")
    parser.add_argument("--only", choices=("native", "python", "asyncio"),
                        help="one part: the C++ tables, the Python ones (asyncio's included), or asyncio's")
    args = parser.parse_args()
    have_perf = shutil.which("perf") is not None
    tmp = tempfile.mkdtemp(prefix="sampler-engines-")
    print("engines bench: %s, %d CPUs, %s" % (time.strftime("%Y-%m-%d %H:%M"), os.cpu_count(),
                                             "perf found" if have_perf else "perf not found"))
    perf_row = [("perf record dwarf -F 1000", "perf", 1000, [])] if have_perf else []
    if args.only in (None, "native"):
        one = Workload("C++ -O2 40 deep, 1 thread", [args.workload, "bench-threads", str(args.rounds), "40", "1"])
        run_table(one.name + ", 1000 Hz", one, [
            ("unprofiled", "none", 0, []),
            ("sampler (perf_event) -r 1000", "sampler", 1000, []),
            ("sampler --capture ptrace -r 1000", "ptrace", 1000, []),
        ] + perf_row, args, tmp)
        two = Workload("C++ -O2 40 deep, 2 busy threads", [args.workload, "bench-threads", str(args.rounds), "40", "2"],
                       threads=2)
        run_table(two.name + " on the 2 CPUs", two, [
            ("unprofiled", "none", 0, []),
            ("sampler (perf_event) -r 1000", "sampler", 1000, []),
            ("sampler (perf_event) -r 100", "sampler", 100, []),
            ("sampler --capture ptrace -r 1000", "ptrace", 1000, []),
        ] + perf_row, args, tmp)
    if args.only != "native":
        python = args.python
        if not python:
            root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() or \
                os.path.expanduser("~/.pyenv")
            candidates = sorted(d for d in os.listdir(os.path.join(root, "versions")) if d.startswith("3.12"))
            python = os.path.join(root, "versions", candidates[-1], "bin", "python3") if candidates else None
        if not python or not os.path.exists(python):
            print("python: unavailable (no pyenv CPython 3.12; give --python)")
            return 0
        if args.only != "asyncio":
            run_python_tables(python, args, tmp, perf_row)
        # --asyncio's and --tasks' cost: an event loop of many short callbacks (one round each), 100 Hz.
        loop = Workload("Python asyncio, 4 tasks of short steps",
                        [python, args.python_workload, str(max(1, args.python_rounds * 3 // 10)), "--tasks", "4"],
                        python=True)
        run_table(loop.name + ", 100 Hz", loop, [
            ("unprofiled", "none", 0, []),
            ("sampler (perf_event) -r 100", "sampler", 100, []),
            ("sampler (perf_event) --asyncio", "sampler", 100, ["--asyncio"]),
            ("sampler (perf_event) --tasks", "sampler", 100, ["--tasks"]),
            ("sampler ptrace -r 100", "ptrace", 100, []),
            ("sampler ptrace --asyncio", "ptrace", 100, ["--asyncio"]),
        ], args, tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run_python_tables(python, args, tmp, perf_row):
    """The Python workloads without asyncio: 20 deep, and 8 busy + 8 sleeping threads."""
    deep = Workload("Python 20 deep (json, 1 thread)",
                    [python, args.python_workload, str(args.python_rounds), "--depth", "20"], python=True)
    run_table(deep.name + ", 1000 Hz", deep, [
        ("unprofiled", "none", 0, []),
        ("sampler (perf_event) -r 1000", "sampler", 1000, []),
        ("sampler (perf_event) --no-bpf", "sampler", 1000, ["--no-bpf"]),
        ("sampler (perf_event) --native", "sampler", 1000, ["--native"]),
        ("sampler --capture ptrace -r 1000", "ptrace", 1000, []),
        ("sampler ptrace --native", "ptrace", 1000, ["--native"]),
    ] + perf_row, args, tmp)
    threads = Workload("Python 8 busy + 8 sleeping threads",
                       [python, args.python_workload, str(max(1, args.python_rounds // 8)), "--threads", "8",
                        "--sleepers", "8"], python=True, threads=16)
    run_table(threads.name + ", 1000 Hz", threads, [
        ("unprofiled", "none", 0, []),
        ("sampler (perf_event) -r 1000", "sampler", 1000, []),
        ("sampler (perf_event) --no-bpf", "sampler", 1000, ["--no-bpf"]),
        ("sampler (perf_event) --idle", "sampler", 1000, ["--idle"]),
        ("sampler (perf_event) -r 100", "sampler", 100, []),
        ("sampler --capture ptrace -r 1000", "ptrace", 1000, []),
        ("sampler ptrace --idle", "ptrace", 1000, ["--idle"]),
    ], args, tmp)


if __name__ == "__main__":
    sys.exit(main())

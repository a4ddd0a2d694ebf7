#!/usr/bin/env python3
"""Context-switch cost benchmark: what a profiler adds to each context switch of its target.

The workload fixture's `bench-switches` mode passes a byte between two processes over pipes,
both pinned to CPU 0, so each round trip is two context switches and almost nothing else; the
profiler runs pinned to CPU 1. A profiler that keeps events on each target thread (sampler's
perf_event engine, `perf record -p`) has the kernel switch those events out and in at every
context switch of the thread; one with per-CPU events (`perf record -a`) has none to switch.
Figures: the median microseconds per round trip over the runs, and what the profiler added per
context switch (half the added time per round trip). The sampling rate is low (100 Hz by default)
so that samples cost next to nothing: what remains is the cost of the events being there.

Run it through bench/run.sh switches; see bench/README.md. Standard library only.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

from bench import BenchError, check_perf, describe_commit, median, read_line, read_text
from web import perf_event_fds


class Config:
    def __init__(self, name, argv=None):
        self.name = name
        self.argv = argv  # with {pid} and {partner}; None: unprofiled
        self.times = []  # microseconds per round trip, one per run


ALLOWED_CPUS = sorted(os.sched_getaffinity(0))
WORKLOAD_CPU = ALLOWED_CPUS[0]
PROFILER_CPU = ALLOWED_CPUS[1] if len(ALLOWED_CPUS) > 1 else ALLOWED_CPUS[0]


def pinned(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


def run_once(config, args, tmp):
    workload = subprocess.Popen([args.workload, "bench-switches", str(args.rounds)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, preexec_fn=pinned(WORKLOAD_CPU))
    profiler = None
    try:
        line, _ = read_line(workload.stdout.fileno(), 30)
        if not line or not line.startswith("ready "):
            raise BenchError(f"the workload did not start (it said {line!r})")
        partner = int(line.split()[1])
        if config.argv:
            argv = [a.format(pid=workload.pid, partner=partner) for a in config.argv]
            err_path = os.path.join(tmp, "profiler.err")
            with open(err_path, "w") as err:
                profiler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                            preexec_fn=pinned(PROFILER_CPU))
            wait_attached(profiler, err_path)
        workload.stdin.write(b"go\n")
        workload.stdin.flush()
        line, _ = read_line(workload.stdout.fileno(), 600)
        if line is None:
            raise BenchError("the workload exited without its figure")
        workload.wait(60)
        config.times.append(float(line))
    except TimeoutError:
        raise BenchError("the workload did not answer in time")
    finally:
        if workload.poll() is None:
            workload.kill()
            workload.wait()
        workload.stdin.close()
        workload.stdout.close()
        if profiler is not None:
            if profiler.poll() is None:
                profiler.send_signal(signal.SIGINT)
            try:
                profiler.wait(120)
            except subprocess.TimeoutExpired:
                profiler.kill()
                profiler.wait()


def wait_attached(profiler, err_path, timeout=20.0):
    """Until the profiler's perf_event descriptors have been steady for 0.2 s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if profiler.poll() is not None:
            raise BenchError(f"{profiler.args[0]} exited at start: {read_text(err_path).strip()}")
        count = perf_event_fds(profiler.pid)
        if count != last:
            last, since = count, time.monotonic()
        elif count > 0 and time.monotonic() - since >= 0.2:
            return
        time.sleep(0.02)
    raise BenchError(f"{profiler.args[0]} opened no perf_event descriptors within {timeout:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--workload", required=True, help="the workload fixture (tests/fixtures/workload)")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--rounds", type=int, default=1000000, help="round trips per run (default 1000000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration (default 3)")
    parser.add_argument("--rate", type=int, default=100, help="sampling rate, Hz (default 100)")
    parser.add_argument("--no-perf", action="store_true", help="skip the perf configurations")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sampler-switches-") as tmp:
        rate = str(args.rate)
        configs = [Config("unprofiled"),
                   Config(f"sampler --subprocesses -r {rate}",
                          [args.sampler, "record", "--pid", "{pid}", "--subprocesses", "-r", rate, "-f", "folded",
                           "-o", os.path.join(tmp, "profile.folded")])]
        perf_note = "perf: skipped (--no-perf)"
        if not args.no_perf:
            perf, reason, event = check_perf(tmp)
            perf_note = f"perf: available ({perf}, event {event})" if perf else f"perf: unavailable ({reason})"
            if perf:
                data = os.path.join(tmp, "perf.data")
                configs.append(Config(f"perf record -g -F {rate} -p BOTH",
                                      [perf, "record", "-g", "-F", rate, "-o", data, "-p", "{pid},{partner}"]))
                configs.append(Config(f"perf record -g -F {rate} -a",
                                      [perf, "record", "-g", "-F", rate, "-o", data, "-a"]))
        print(f"sampler: {describe_commit(args.root)}; {os.cpu_count()} CPUs; load average "
              + " ".join(f"{v:.2f}" for v in os.getloadavg()))
        print(f"switches bench: {args.rounds} round trips between two processes on CPU {WORKLOAD_CPU}, the "
              f"profiler on CPU {PROFILER_CPU}; {args.runs} runs per configuration, alternating; {perf_note}", flush=True)
        for run in range(args.runs):
            for config in configs if run % 2 == 0 else reversed(configs):
                run_once(config, args, tmp)
                print(f"  run {run + 1}/{args.runs} {config.name}: {config.times[-1]:.3f} us per round trip",
                      file=sys.stderr, flush=True)
        base = median(configs[0].times)
        print()
        width = max(len(c.name) for c in configs)
        print(f"{'profiler'.ljust(width)}  us/round trip  added per context switch")
        for config in configs:
            value = median(config.times)
            added = "" if config is configs[0] else f"{(value - base) / 2:+.3f} us"
            print(f"{config.name.ljust(width)}  {value:13.3f}  {added:>23}")
        print("us/round trip: median over the runs; a round trip is two context switches on one CPU.")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)

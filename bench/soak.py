#!/usr/bin/env python3
"""Soak: sampler's memory over a long run. Does its resident set stay flat?

A 16-thread Python target (8 busy, 8 asleep; tests/fixtures/python_bench/workload.py) runs for
the whole soak. Two profilers watch it side by side:

- `sampler record --native -r 1000` for the whole duration, writing a flame graph at the end;
- `sampler top --native -r 1000 --delay 1` with its plain-text output to a pipe this script drains.

Every 10 seconds each profiler's VmRSS is read from /proc/PID/status. The figure reported is the
growth from the first minute's end (caches and tables filled by then) to the end, which should
stay within 10%. Also printed: RSS at the first sample, at one minute and at the end, and the
highest.

    bench/soak.py --sampler build/src/sampler --python-workload tests/fixtures/python_bench/workload.py \
        [--python PATH] [--minutes 30]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def vm_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def default_python():
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else os.path.expanduser("~/.pyenv")
    candidate = os.path.join(root, "versions", "3.12.1", "bin", "python3")
    return candidate if os.access(candidate, os.X_OK) else sys.executable


def drain(stream):
    for _ in iter(lambda: stream.read(65536), b""):
        pass


def stop(process, timeout=60):
    """SIGINT (sampler writes its output and exits), then SIGKILL if it hangs; always reaped."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--python-workload", required=True)
    parser.add_argument("--python", default=None, help="interpreter for the target (default: pyenv 3.12.1)")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=10, help="seconds between RSS readings")
    args = parser.parse_args()
    python = args.python or default_python()
    seconds = args.minutes * 60

    workdir = tempfile.mkdtemp(prefix="sampler-soak-")
    # Enough rounds to outlast the soak; killed at the end.
    target = subprocess.Popen([python, args.python_workload, "100000000", "--threads", "8", "--sleepers", "8"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    profilers = {}
    try:
        if target.stdout.readline().strip() != b"ready":
            raise RuntimeError("the target did not start")
        threading.Thread(target=drain, args=(target.stdout,), daemon=True).start()
        pid = str(target.pid)
        profilers["record"] = subprocess.Popen(
            [args.sampler, "record", "--native", "-r", "1000", "-d", str(int(seconds) + 60), "--pid", pid,
             "-o", os.path.join(workdir, "soak.svg")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        profilers["top"] = subprocess.Popen(
            [args.sampler, "top", "--native", "-r", "1000", "--delay", "1", "--pid", pid],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=drain, args=(profilers["top"].stdout,), daemon=True).start()

        readings = {name: [] for name in profilers}  # (seconds since start, KiB)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            elapsed = time.monotonic() - start
            for name, process in profilers.items():
                if process.poll() is not None:
                    raise RuntimeError("sampler %s exited early (%s)" % (name, process.returncode))
                rss = vm_rss_kib(process.pid)
                if rss is not None:
                    readings[name].append((elapsed, rss))
            time.sleep(min(args.interval, max(0.0, seconds - (time.monotonic() - start))))
        for name, process in profilers.items():
            rss = vm_rss_kib(process.pid)
            if rss is not None:
                readings[name].append((time.monotonic() - start, rss))
    finally:
        codes = {name: stop(process) for name, process in profilers.items()}
        target.kill()
        target.wait()
        record_err = profilers["record"].stderr.read().decode(errors="replace") if "record" in profilers else ""
        shutil.rmtree(workdir, ignore_errors=True)

    print("soak: %.1f minutes, 16-thread Python target (8 busy, 8 asleep), 1000 Hz, --native" % args.minutes)
    print("%-8s %10s %10s %10s %10s %12s  %s" % ("profiler", "first MiB", "1 min MiB", "end MiB", "max MiB",
                                               "growth", "exit"))
    worst = 0.0
    for name, series in readings.items():
        if not series:
            print("%-8s no readings" % name)
            continue
        first = series[0][1]
        settled = next((kib for t, kib in series if t >= 60), series[-1][1])
        end = series[-1][1]
        highest = max(kib for _, kib in series)
        growth = 100.0 * (end - settled) / settled
        worst = max(worst, growth)
        print("%-8s %10.1f %10.1f %10.1f %10.1f %11.1f%%  %s" % (name, first / 1024, settled / 1024, end / 1024,
                                                             highest / 1024, growth, codes.get(name)))
    summary = [line for line in record_err.splitlines() if "samples" in line or "own CPU" in line]
    for line in summary[:3]:
        print("record: " + line.removeprefix("sampler: "))
    print("growth after the first minute: %.1f%% (bar: 10%%)" % worst)
    return 0 if worst <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())

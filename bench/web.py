#!/usr/bin/env python3
"""Web-service benchmark: a gunicorn server's latency and throughput under wrk, profiled and not.

gunicorn (Debian's /usr/bin/python3, N sync workers) serves bench/web_app.py on 127.0.0.1; wrk
loads it (`wrk -tT -cC -dSs --latency`) while the workers use the machine's CPUs. Each profiled
run is paired with an unprofiled run next to it in time (which of the two goes first alternates),
and the figures are medians over the pairs of profiled / unprofiled:

- p99 latency: wrk's 99th percentile latency; throughput: wrk's requests per second;
- worker CPU/req: the workers' CPU time (from /proc) over the wrk run / the requests served;
- prof CPU: the profiler's own CPU time (user + sys, from its rusage), start-up and output
  included; samples: its thread samples (sampler) or samples (perf);
- kept: sampler's own figure (thread samples / what the threads' CPU time called for at the
  rate); for perf, samples / (the workers' CPU time while perf ran x the rate);
- own CPU/sample: sampler's steady-state CPU per thread sample (start-up excluded).

Configurations: sampler `record --pid MASTER --subprocesses` (it follows the forked workers from
the master) at each rate, and `perf record -g -p WORKERS` (perf cannot follow a pid's children,
so it gets the workers' pids) at the same rates when perf works here; "unprofiled again" pairs
two unprofiled runs: the noise floor. Run it through bench/run.sh web; see bench/README.md.
Needs gunicorn and wrk (Debian: apt-get install gunicorn wrk). Standard library only.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench import (FINAL_LINE, PERF_SAMPLES, BenchError, OthersMeter, check_perf, describe_commit,
                   kill_and_reap, median, read_text, share_used_by_others, spawn, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_HINT = "on Debian: apt-get install gunicorn wrk"

REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
REQUEST_COUNT = re.compile(r"^\s*(\d+) requests in ", re.M)
P99 = re.compile(r"^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}

ENGINE_LINE = re.compile(r"perf_event engine: .*?; (?P<received>\d+) thread samples, (?P<kept>[\d.]+)% of the")
OWN_CPU_LINE = re.compile(r"own CPU while sampling \(start-up excluded\) (?P<seconds>[\d.]+) s: "
                          r"(?P<us>[\d.]+) us per thread sample")

# Issue 9's bar, per rate: (p99 latency ratio at most, throughput ratio at least).
AIMS = {100: (1.02, 0.98), 1000: (1.05, 0.95)}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProfilerFailed(Exception):
    """A profiler exited before it attached: for perf, a reason to go on without it."""


class Config:
    def __init__(self, name, kind=None, rate=None):
        self.name = name
        # None (unprofiled again), "sampler", "perf" (-p), "perf-a" (-a) or "perf-floor" (-a, no -g)
        self.kind = kind
        self.rate = rate
        self.pairs = []  # (unprofiled Run, this configuration's Run)


class Run:
    def __init__(self):
        self.rps = None
        self.p99_ms = None
        self.requests = 0
        self.socket_errors = 0
        self.worker_cpu = None  # seconds, over the wrk run
        self.others = None  # share of one CPU other processes used, in percent
        self.profiler_cpu = None  # seconds, user + sys
        self.samples = None
        self.kept = None  # fraction
        self.own_us = None  # sampler: steady-state us per thread sample
        self.workers_seen = None  # sampler: workers that have stacks in its output


def process_cpu(pid, with_reaped_children=False):
    """User + sys seconds of a live process (and of the children it reaped), from /proc; 0 once
    it is gone."""
    text = read_text(f"/proc/{pid}/stat")
    if not text:
        return 0.0
    fields = text.rpartition(")")[2].split()  # fields[0] is the state, stat's third field
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def children(pid):
    """Pids of a process's children, from /proc/PID/task/*/children (the workers are the master's)."""
    pids = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return pids
    for task in tasks:
        pids += [int(p) for p in read_text(f"/proc/{pid}/task/{task}/children").split()]
    return sorted(pids)


def perf_event_fds(pid):
    """How many perf_event file descriptors a process holds."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0  # exiting: the caller's waitpid sees it
    count = 0
    for name in names:
        try:
            count += os.readlink(f"/proc/{pid}/fd/{name}") == "anon_inode:[perf_event]"
        except OSError:
            pass  # closed meanwhile
    return count


class Server:
    """gunicorn with sync workers, on a listening socket this script binds (port 0, so no port is
    guessed) and hands over as fd://N."""

    def __init__(self, args, tmp):
        self.log = os.path.join(tmp, "gunicorn.log")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)
        self.port = listener.getsockname()[1]
        fd = listener.fileno()
        argv = [args.python, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", "sync",
                "--bind", f"fd://{fd}", "--chdir", HERE, "--log-level", "warning", "web_app:application"]
        env = dict(os.environ, WEB_APP_ITEMS=str(args.items))
        try:
            with open(self.log, "w") as log:
                self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                pass_fds=(fd,), env=env)
        finally:
            listener.close()  # gunicorn has its copy
        self.pid = self.process.pid
        self.workers = []

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self):
        return "\n".join(read_text(self.log).strip().splitlines()[-15:])

    def ping(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/ping")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def wait_serving(self, workers, timeout=60.0):
        """Until all the workers are forked and one answers /ping."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            self.workers = children(self.pid)
            if len(self.workers) == workers and self.ping():
                return
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn did not serve within {timeout:.0f} s "
                                 f"({len(self.workers)} of {workers} workers):\n{self.log_tail()}")
            time.sleep(0.1)

    def worker_cpu(self):
        return sum(process_cpu(pid) for pid in self.workers)

    def tree_cpu(self):
        """The master's CPU, its reaped workers' and its live workers'."""
        return process_cpu(self.pid, with_reaped_children=True) + sum(process_cpu(p) for p in children(self.pid))

    def check_workers(self):
        """A worker gunicorn replaced (it died, or missed its heartbeat) would not be the process
        perf profiles: that is an error."""
        now = children(self.pid)
        if self.process.poll() is not None or now != self.workers:
            raise BenchError(f"gunicorn's workers changed ({self.workers} -> {now}):\n{self.log_tail()}")

    def stop(self):
        """SIGTERM to the master, which stops its (idle) workers and exits; SIGKILL to all of them
        if that takes over 15 s. Reaps the master (the workers are its children)."""
        if self.process.poll() is None:
            workers = children(self.pid)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for pid in workers + [self.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.process.wait()


def run_wrk(args, url, seconds):
    """One wrk run; returns a Run with its throughput, p99 latency and request count."""
    # wrk's default 2 s timeout drops the slowest requests from its latencies: the run's length
    # is used instead, so that every request the run waited for counts.
    argv = [args.wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
            "--timeout", f"{max(seconds, 2)}s", "--latency", url]
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {seconds + 60} s")
    text = out.stdout + out.stderr
    rps, p99, count = REQUESTS_PER_SECOND.search(text), P99.search(text), REQUEST_COUNT.search(text)
    if out.returncode != 0 or not (rps and p99 and count):
        raise BenchError(f"{' '.join(argv)} failed (exit status {out.returncode}):\n{text.strip()}")
    non_2xx = NON_2XX.search(text)
    if non_2xx:
        raise BenchError(f"the server answered {non_2xx[1]} requests with an error status:\n{text.strip()}")
    run = Run()
    run.rps = float(rps[1])
    run.p99_ms = float(p99[1]) * TO_MS[p99[2]]
    run.requests = int(count[1])
    errors = SOCKET_ERRORS.search(text)
    run.socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
    return run


class Profiler:
    """A profiler process started on the server, with its output files."""

    def __init__(self, config, args, server, tmp):
        self.config = config
        self.err_path = os.path.join(tmp, "profiler.err")
        self.out_path = os.path.join(tmp, "profile.folded" if config.kind == "sampler" else "perf.data")
        if config.kind == "sampler":
            argv = [args.sampler, "record", "--pid", str(server.pid), "--subprocesses", "-r", str(config.rate),
                    "-o", self.out_path, "-f", "folded"]
        elif config.kind == "perf-a":
            argv = [args.perf, "record", "-a", "-F", str(config.rate), "-g", "-o", self.out_path]
        elif config.kind == "perf-floor":
            # The kernel's CPU-clock ticks on every CPU with the least a sample carries (no call
            # chain, no stack): what timer sampling at this rate costs before any profiler work.
            argv = [args.perf, "record", "-a", "-e", "cpu-clock", "-F", str(config.rate), "-o", self.out_path]
        else:
            argv = [args.perf, "record", "-F", str(config.rate), "-g", "-o", self.out_path,
                    "-p", ",".join(str(pid) for pid in server.workers)]
        self.worker_cpu_at_start = server.worker_cpu()
        self.pid = spawn(argv[0], argv, stderr=self.err_path)
        self.reaped = False

    def wait_attached(self, timeout=10.0):
        """Until the profiler holds perf_event descriptors and their number has been steady for
        0.2 s (both perf and sampler's perf_event engine open one or more per target thread), so
        the load starts on a target being sampled. After `timeout` it goes on regardless (the
        ptrace engine holds none). Raises ProfilerFailed if the profiler exits first."""
        deadline = time.monotonic() + timeout
        last, steady_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.reaped = True
                err = read_text(self.err_path).strip()
                reason = err.splitlines()[-1] if err else f"wait status {status}"
                raise ProfilerFailed(f"{self.config.name} exited at start: {reason}")
            count = perf_event_fds(self.pid)
            if count != last:
                last, steady_since = count, time.monotonic()
            elif count > 0 and time.monotonic() - steady_since >= 0.2:
                return True
            time.sleep(0.02)
        return False

    def stop(self, run, server):
        """SIGINT (as Ctrl-C: both write their output and exit), reaps it and reads its summary."""
        os.kill(self.pid, signal.SIGINT)
        try:
            status, usage = wait_for(self.pid, 120, self.config.name)
        except BenchError:
            self.reaped = True  # wait_for killed and reaped it when it timed out
            raise
        self.reaped = True
        err = read_text(self.err_path)
        code = os.waitstatus_to_exitcode(status)
        # perf record re-raises the SIGINT it handled once its data is written: that is success.
        if code != 0 and not (self.config.kind != "sampler" and code == -signal.SIGINT):
            raise BenchError(f"{self.config.name} exited with {code}:\n{err.strip()}")
        run.profiler_cpu = usage.ru_utime + usage.ru_stime
        if self.config.kind == "sampler":
            self.read_sampler_summary(run, err, server)
        else:
            match = PERF_SAMPLES.search(err)
            if not match:
                raise BenchError(f"{self.config.name}: no sample count in its stderr:\n{err.strip()}")
            run.samples = int(match[1])
            # perf has no figure of its own: its samples against what the workers' CPU time
            # while it ran called for (taken after it exited, so it covers all of that).
            # (perf -a samples every process on every CPU: no kept share of the workers.)
            cpu = server.worker_cpu() - self.worker_cpu_at_start
            run.kept = run.samples / (cpu * self.config.rate) if cpu > 0 and self.config.kind == "perf" else None
        for path in (self.out_path, self.err_path):
            if os.path.exists(path):
                os.remove(path)

    def read_sampler_summary(self, run, err, server):
        final, engine, own = FINAL_LINE.search(err), ENGINE_LINE.search(err), OWN_CPU_LINE.search(err)
        if not final:
            raise BenchError(f"{self.config.name}: no summary line in its stderr:\n{err.strip()}")
        run.samples = int(final["stacks"])
        if engine:
            run.kept = float(engine["kept"]) / 100
        if own:
            run.own_us = float(own["us"])
        # With --subprocesses every stack starts with a "process PID (...)" frame: the workers
        # found there show that sampler followed the master's children.
        roots = set()
        with open(self.out_path, errors="replace") as folded:
            for line in folded:
                match = re.match(r"process (\d+) ", line)
                if match:
                    roots.add(int(match[1]))
        run.workers_seen = len(roots & set(server.workers))

    def kill(self):
        if not self.reaped:
            self.reaped = True
            kill_and_reap(self.pid)


def measure(config, args, server, tmp):
    """One wrk run, unprofiled (config None) or under config's profiler, started before wrk and
    stopped after it."""
    meter = OthersMeter(server.tree_cpu)
    profiler = None
    try:
        if config is not None and config.kind:
            profiler = Profiler(config, args, server, tmp)
            if not profiler.wait_attached() and not args.warned_attach:
                args.warned_attach = True
                print(f"warning: {config.name} held no perf_event descriptors after 10 s; load started "
                      f"regardless", file=sys.stderr)
        before = server.worker_cpu()
        run = run_wrk(args, server.url(), args.seconds)
        run.worker_cpu = server.worker_cpu() - before
        if profiler:
            profiler.stop(run, server)
    finally:
        if profiler:
            profiler.kill()
    server.check_workers()
    run.others = meter.share()
    return run


def warm_up(args, server, tmp):
    """Not counted: the server's first requests, and sampler's first attach (page cache, the
    interpreter's symbols)."""
    warm = Config("warm-up", "sampler", 100)
    profiler = Profiler(warm, args, server, tmp)
    try:
        profiler.wait_attached()
        run = run_wrk(args, server.url(), args.warmup)
        profiler.stop(run, server)
    except ProfilerFailed as error:
        raise BenchError(str(error))
    finally:
        profiler.kill()
    server.check_workers()
    return run


def run_pairs(configs, args, server, tmp, began):
    """Each configuration's pairs; the configurations are interleaved (pair 1 of each, then pair
    2, ...) and rotated, so drifts in the machine's load hit them alike, and within a pair which run
    goes first alternates."""
    for pair in range(args.pairs):
        order = configs[pair % len(configs):] + configs[:pair % len(configs)]
        for config in order:
            if config not in configs:
                continue  # perf, dropped meanwhile
            try:
                if pair % 2 == 0:
                    base, profiled = measure(None, args, server, tmp), measure(config, args, server, tmp)
                else:
                    profiled, base = measure(config, args, server, tmp), measure(None, args, server, tmp)
            except ProfilerFailed as error:
                if config.kind == "sampler":
                    raise BenchError(str(error))
                print(f"perf: unavailable ({error})", flush=True)
                configs[:] = [c for c in configs if c.kind == "sampler"]
                continue
            config.pairs.append((base, profiled))
            print(f"  pair {pair + 1}/{args.pairs} {config.name}: p99 x{profiled.p99_ms / base.p99_ms:.3f}, "
                  f"throughput x{profiled.rps / base.rps:.3f}; other processes used "
                  f"{max(base.others, profiled.others):.0f}% of one CPU ({time.monotonic() - began:.0f} s)",
                  file=sys.stderr, flush=True)


def ratio_of(config, field):
    return median([getattr(p, field) / getattr(b, field) for b, p in config.pairs])


def fmt(value, spec, suffix=""):
    return "-" if value is None else format(value, spec) + suffix


def cpu_per_request(run):
    return run.worker_cpu / run.requests * 1e3 if run.requests else None


def print_table(configs):
    header = ["profiler", "p99 latency", "(ratio)", "throughput", "(ratio)", "worker CPU/req", "prof CPU",
              "samples", "kept", "own CPU/sample"]
    unprofiled = [b for c in configs for b, _ in c.pairs]
    rows = [["unprofiled", fmt(median([r.p99_ms for r in unprofiled]), ".1f", " ms"), "",
             fmt(median([r.rps for r in unprofiled]), ".0f", " req/s"), "",
             fmt(median([cpu_per_request(r) for r in unprofiled]), ".2f", " ms")] + ["-"] * 4]
    for c in configs:
        if not c.pairs:
            continue
        runs = [p for _, p in c.pairs]
        kept = median([r.kept for r in runs])
        rows.append([c.name, fmt(median([r.p99_ms for r in runs]), ".1f", " ms"), fmt(ratio_of(c, "p99_ms"), ".3f"),
                     fmt(median([r.rps for r in runs]), ".0f", " req/s"), fmt(ratio_of(c, "rps"), ".3f"),
                     fmt(median([cpu_per_request(r) for r in runs]), ".2f", " ms"),
                     fmt(median([r.profiler_cpu for r in runs]), ".2f", " s"),
                     fmt(median([r.samples for r in runs]), ".0f"),
                     fmt(kept and kept * 100, ".1f", "%"),
                     fmt(median([r.own_us for r in runs]), ".0f", " us")])
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                        for i, cell in enumerate(row)).rstrip())


def print_raw(configs):
    for c in configs:
        for number, (b, p) in enumerate(c.pairs, 1):
            extra = ""
            if c.kind:
                extra = (f"; profiler CPU {p.profiler_cpu:.2f} s, {p.samples} samples, kept "
                         f"{fmt(p.kept and p.kept * 100, '.1f', '%')}")
                if p.workers_seen is not None:
                    extra += f", {p.workers_seen} workers in its output"
            print(f"raw {c.name} pair {number}: unprofiled {b.rps:.1f} req/s p99 {b.p99_ms:.2f} ms, "
                  f"profiled {p.rps:.1f} req/s p99 {p.p99_ms:.2f} ms{extra}; others "
                  f"{b.others:.0f}%/{p.others:.0f}%")


def print_verdicts(configs, args):
    by_name = {c.name: c for c in configs}
    noise = by_name.get("unprofiled again")
    # The noise floor: how far from 1 two unprofiled runs side by side came.
    noise_p99 = abs(ratio_of(noise, "p99_ms") - 1) if noise and noise.pairs else 0.0
    noise_rps = abs(ratio_of(noise, "rps") - 1) if noise and noise.pairs else 0.0
    floor = (f"p99 x{ratio_of(noise, 'p99_ms'):.3f}, throughput x{ratio_of(noise, 'rps'):.3f}"
             if noise and noise.pairs else "not measured")
    print(f"aims (issue 9, sampler --subprocesses; noise floor, unprofiled again: {floor}):")
    for c in configs:
        if c.kind != "sampler" or c.rate not in AIMS or not c.pairs:
            continue
        p99_aim, rps_aim = AIMS[c.rate]
        p99, rps = ratio_of(c, "p99_ms"), ratio_of(c, "rps")
        p99_verdict = "met" if p99 <= p99_aim else "MISSED"
        if noise_p99 > p99_aim - 1:
            p99_verdict += " (not resolved: the noise floor is above the aim)"
        rps_verdict = "met" if rps >= rps_aim else "MISSED"
        if noise_rps > 1 - rps_aim:
            rps_verdict += " (not resolved: the noise floor is above the aim)"
        print(f"  {c.name}: p99 latency x{p99:.3f} <= x{p99_aim:.2f} -> {p99_verdict}; "
              f"throughput x{rps:.3f} >= x{rps_aim:.2f} -> {rps_verdict}")
    for c in configs:
        seen = min([r.workers_seen for _, r in c.pairs if r.workers_seen is not None], default=args.workers)
        if seen < args.workers:
            print(f"warning: {c.name}: a run's output has stacks of only {seen} of the {args.workers} workers")
        errors = sum(b.socket_errors + p.socket_errors for b, p in c.pairs)
        if errors:
            print(f"warning: {c.name}: wrk reported {errors} socket errors over its pairs")


def find_tools(args):
    """Fills args.wrk; raises BenchError naming the packages when gunicorn or wrk is missing."""
    args.wrk = shutil.which("wrk")
    if not args.wrk:
        raise BenchError(f"wrk not found on PATH ({INSTALL_HINT})")
    try:
        probe = subprocess.run([args.python, "-c", "import gunicorn; print(gunicorn.__version__)"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchError(f"{args.python} does not run ({error})")
    if probe.returncode != 0:
        raise BenchError(f"{args.python} cannot import gunicorn ({INSTALL_HINT}, or give --python)")
    return probe.stdout.strip()


def make_configs(args, tmp):
    configs = [Config("unprofiled again")]
    perf_note = "perf: skipped (--no-perf)"
    if not args.no_perf:
        args.perf, reason, event = check_perf(tmp)
        perf_note = f"perf: available ({args.perf}, event {event})" if args.perf else f"perf: unavailable ({reason})"
    for rate in args.rates:
        configs.append(Config(f"sampler --subprocesses -r {rate}", "sampler", rate))
        if not args.no_perf and args.perf:
            configs.append(Config(f"perf record -g -F {rate} -p WORKERS", "perf", rate))
        if not args.no_perf and args.perf and args.perf_system_wide:
            configs.append(Config(f"perf record -g -F {rate} -a", "perf-a", rate))
        if not args.no_perf and args.perf and args.timer_floor:
            configs.append(Config(f"perf record -e cpu-clock -F {rate} -a", "perf-floor", rate))
    return configs, perf_note


def run_bench(args, tmp):
    began = time.monotonic()
    version = find_tools(args)
    configs, perf_note = make_configs(args, tmp)
    print(f"web bench: gunicorn {version} ({args.python}), {args.workers} sync workers serving "
          f"web_app.py ({args.items} items per response); wrk -t{args.threads} -c{args.connections} "
          f"-d{args.seconds}s; pairs per configuration: {args.pairs}; figures are medians")
    print(perf_note, flush=True)
    share = share_used_by_others(2)
    if share > 20:
        print(f"warning: the machine is busy (other processes use {share:.0f}% of one CPU): expect noise",
              flush=True)
    server = Server(args, tmp)
    try:
        server.wait_serving(args.workers)
        print(f"gunicorn: master {server.pid}, workers {' '.join(map(str, server.workers))}, "
              f"port {server.port}", flush=True)
        meter = OthersMeter(server.tree_cpu)
        warm = warm_up(args, server, tmp)
        print(f"warm-up ({args.warmup} s, sampler at 100 Hz): {warm.rps:.0f} req/s, p99 {warm.p99_ms:.1f} ms",
              file=sys.stderr, flush=True)
        run_pairs(configs, args, server, tmp, began)
        others = meter.share()
    finally:
        server.stop()
    print()
    print_table(configs)
    if args.raw:
        print_raw(configs)
    print_verdicts(configs, args)
    print("""\
ratio: median over the pairs of profiled / unprofiled (each pair's runs are adjacent in time).
worker CPU/req: the workers' CPU time over the wrk run / requests served. prof CPU: the profiler's
  own CPU time (rusage), start-up and output included. kept: sampler's share of the samples its
  rate called for; perf's estimated from the workers' CPU time. own CPU/sample: sampler's, start-up
  excluded.""")
    print(f"other processes used {others:.0f}% of one CPU during the pairs (of {os.cpu_count() * 100}%); "
          f"total {time.monotonic() - began:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", required=True)
    parser.add_argument("--root", default=os.path.dirname(HERE), help="source tree (for the commit id)")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="interpreter that runs gunicorn (default /usr/bin/python3, Debian's gunicorn)")
    parser.add_argument("--pairs", type=int, default=3, help="pairs per configuration (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run (default 10)")
    parser.add_argument("--warmup", type=int, default=5, help="length of the warm-up run (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--connections", type=int, default=20, help="wrk -c (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--items", type=int, default=400, help="records in each JSON response (default 400)")
    parser.add_argument("--rates", default="100,1000", help="sampling rates, comma-separated (default 100,1000)")
    parser.add_argument("--no-perf", action="store_true", help="skip the perf configurations")
    parser.add_argument("--perf-system-wide", action="store_true",
                        help="also run perf record -a (per-CPU events: no per-task event to switch at "
                             "each context switch of the workers)")
    parser.add_argument("--timer-floor", action="store_true",
                        help="also run perf record -e cpu-clock -a without -g: the cost of the timer "
                             "ticks alone, the floor under any sampling profiler at that rate")
    parser.add_argument("--raw", action="store_true", help="also print every pair's figures")
    args = parser.parse_args()
    try:
        args.rates = [int(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates takes integers, comma-separated")
    if min([args.pairs, args.seconds, args.warmup, args.workers, args.connections, args.threads, args.items]
           + args.rates) < 1:
        parser.error("counts, durations and rates must be positive")
    if args.connections < args.threads:
        parser.error("wrk needs at least as many connections as threads")
    args.warned_attach = False

    with tempfile.TemporaryDirectory(prefix="sampler-web-") as tmp:
        # A private copy, so a rebuild of build/src/sampler during the run cannot change it.
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.stat(args.sampler).st_mtime))
        private = os.path.join(tmp, "sampler")
        shutil.copy2(args.sampler, private)
        args.sampler = private
        print(f"sampler: {describe_commit(args.root)}, binary built {built}; {os.cpu_count()} CPUs; load average "
              f"{' '.join(read_text('/proc/loadavg').split()[:3])}", flush=True)
        run_bench(args, tmp)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"web bench: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)

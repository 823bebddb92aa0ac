#!/usr/bin/env python3
"""Benchmark runner for issue 6 (Python 3 standard library only).

Starts one nbdkit (memory plugin, 1 GiB, private Unix socket, --exit-with-parent),
fills the first 64 MiB, then runs every workload of bench/nbdbench.c with our
build and the system-libnbd build in turn (alternating which goes first each
round), takes medians, runs Debian's nbdcopy with each library, runs the Go
ReadAt benchmarks if they exist, and prints a markdown table (also saved with
--out).  With --syscalls it instead runs each workload once per library under
`strace -c -f` and prints system calls per operation.

Benchmarks report; they never gate: the exit status is 0 even when a target
is not met or a column FAILED (only a broken setup, e.g. no nbdkit, is fatal).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# name, label, unit ("iops" -> ops/s, "mibs" -> MiB/s, "cps" -> connections/s)
WORKLOADS = [
    ("connect", "connect + handshake + close", "cps"),
    ("read4k-sync", "4 KiB random read, sync", "iops"),
    ("read4k-qd64", "4 KiB random read, 64 in flight", "iops"),
    ("seqread256k", "256 KiB sequential read, 16 in flight", "mibs"),
    ("seqwrite256k", "256 KiB sequential write, 16 in flight", "mibs"),
    ("read4k-mt8", "4 KiB random read, 8 threads / 1 handle", "iops"),
    # 1/latency of a read issued behind 16 that the server takes 1 s each
    # to answer (its own nbdkit; issue 14): higher is better, ~1 if it goes
    # out at once, ~0.5 if it waits for replies.
    ("late17", "17th read behind 16 slow ones, 1/latency", "iops"),
]
UNIT_NAME = {"iops": "IOPS", "mibs": "MiB/s", "cps": "conn/s"}

FAILED = "FAILED"


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- environment

def env_sys():
    env = dict(os.environ)
    for k in ("LD_LIBRARY_PATH", "LD_PRELOAD"):
        env.pop(k, None)
    return env


def env_ours(libdir):
    env = env_sys()
    env["LD_LIBRARY_PATH"] = os.path.abspath(libdir)
    return env


class Nbdkit:
    """One nbdkit in the foreground on a Unix socket in a private temp dir."""

    def pid(self):
        return self.proc.pid if self.proc.poll() is None else None

    def __init__(self, tmpdir, name, plugin_args):
        self.sock = os.path.join(tmpdir, name + ".sock")
        pidfile = os.path.join(tmpdir, name + ".pid")
        cmd = ["nbdkit", "-f", "--exit-with-parent", "-U", self.sock,
               "-P", pidfile] + plugin_args
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     env=env_sys())
        deadline = time.monotonic() + 15
        while not (os.path.exists(pidfile) and os.path.exists(self.sock)):
            if self.proc.poll() is not None:
                raise RuntimeError("nbdkit exited early: %s" % " ".join(cmd))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nbdkit did not start: %s" % " ".join(cmd))
            time.sleep(0.05)

    def uri(self):
        return "nbd+unix:///?socket=" + self.sock

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_timed(cmd, env, timeout, cwd=None):
    """Run cmd; return (rc, stdout, stderr, wall, child cpu seconds)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = "timeout"
        out = e.stdout if isinstance(e.stdout, str) else ""
        err = e.stderr if isinstance(e.stderr, str) else ""
    except OSError as e:
        rc, out, err = "oserror", "", str(e)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return rc, out, err, wall, cpu


# ---------------------------------------------------------------- C workloads

RESULT_RE = re.compile(r"^RESULT (.*)$", re.M)


def parse_result(text):
    m = RESULT_RE.search(text)
    if not m:
        return None
    d = dict(kv.split("=", 1) for kv in m.group(1).split())
    for k in ("ops", "bytes"):
        d[k] = int(d[k])
    for k in ("seconds", "cpu", "sys"):
        d[k] = float(d.get(k, "nan"))
    return d


class Build:
    def __init__(self, name, binary, env, lib_expect, chroot=None, expect_ext=None):
        self.name = name
        self.expect_ext = expect_ext  # "0"/"1": extended headers must be off/on
        self.binary = binary
        self.env = env
        self.lib_expect = lib_expect  # directory the loaded libnbd.so.0 must be in
        self.chroot = chroot          # run inside this chroot (paths inside it)
        self.results = {}             # workload -> list of result dicts
        self.errors = {}              # workload -> first error text
        self.lib_path = None
        self.version = None

    def command(self, args):
        if self.chroot:
            return ["chroot", self.chroot, self.binary] + args
        return [self.binary] + args

    def sock(self, path):
        """A host path as this build sees it."""
        if self.chroot:
            return path[len(self.chroot.rstrip("/")):]
        return path

    def loads_expected_lib(self, path):
        """Is path (a loaded libnbd.so.0) in the directory this build expects?"""
        root = self.chroot.rstrip("/") if self.chroot else ""
        return (os.path.realpath(root + os.path.dirname(path)) ==
                os.path.realpath(root + self.lib_expect))

    def available(self):
        host_path = (self.chroot.rstrip("/") + self.binary) if self.chroot else self.binary
        return self.binary and os.access(host_path, os.X_OK)

    def run(self, workload, sock, seconds, server_pid=None):
        if not self.available():
            self.errors.setdefault(workload, "binary %s not built" % self.binary)
            return None
        srv0 = proc_cpu_seconds(server_pid) if server_pid else None
        rc, out, err, _, _ = run_timed(self.command([workload, self.sock(sock), str(seconds)]),
                                       self.env, timeout=seconds * 10 + 60)
        srv1 = proc_cpu_seconds(server_pid) if server_pid else None
        res = parse_result(out) if rc == 0 else None
        if res is not None and srv0 is not None and srv1 is not None:
            # nbdkit's CPU over the whole run (setup included) per operation.
            res["srv_cpu"] = srv1 - srv0
        if res is None:
            msg = "exit %s: %s" % (rc, (err.strip() or out.strip())[-400:])
            self.errors.setdefault(workload, msg)
            return None
        if not self.loads_expected_lib(res["lib"]):
            self.errors.setdefault(workload, "loaded the wrong library: %s" % res["lib"])
            return None
        if self.expect_ext is not None and workload != "fill" and \
                res.get("ext") != self.expect_ext:
            self.errors.setdefault(workload, "extended headers negotiated=%s, expected %s"
                                   % (res.get("ext"), self.expect_ext))
            return None
        self.lib_path, self.version = res["lib"], res["version"]
        self.results.setdefault(workload, []).append(res)
        return res


def proc_cpu_seconds(pid):
    """User+system CPU seconds of a live process (all its threads), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class ChrootQemu:
    """qemu-nbd 10 inside the Debian 13 chroot, serving a sparse 1 GiB raw
    file on a Unix socket in tmpdir (a host path inside the chroot)."""

    def __init__(self, root, tmpdir):
        inner = lambda p: p[len(root.rstrip("/")):]
        disk = os.path.join(tmpdir, "qemu.raw")
        with open(disk, "wb") as f:
            f.truncate(1 << 30)
        self.sock = os.path.join(tmpdir, "qemu.sock")
        pidfile = os.path.join(tmpdir, "qemu.pid")
        cmd = ["chroot", root, "qemu-nbd", "-t", "-k", inner(self.sock),
               "--pid-file=" + inner(pidfile), "-f", "raw", "--cache=writeback",
               inner(disk)]
        # chroot execs qemu-nbd, so this pid is the server's.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env_sys())
        deadline = time.monotonic() + 15
        while not (os.path.exists(pidfile) and os.path.exists(self.sock)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("qemu-nbd did not start: %s" % " ".join(cmd))
            time.sleep(0.05)

    def pid(self):
        return self.proc.pid if self.proc.poll() is None else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# The workloads also run against qemu-nbd, which negotiates extended headers
# with libnbd 1.22 (nbdkit 1.42 does not).
QEMU_WORKLOADS = ["read4k-sync", "read4k-qd64", "seqread256k", "seqwrite256k"]


def rate(res, unit):
    if unit == "mibs":
        return res["bytes"] / 1048576.0 / res["seconds"]
    return res["ops"] / res["seconds"]


def cpu_per_op_us(res):
    return res["cpu"] / max(res["ops"], 1) * 1e6


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(build, workload, unit):
    rs = build.results.get(workload, [])
    if not rs:
        return None
    return {
        "rate": statistics.median(rate(r, unit) for r in rs),
        "cpu_us": statistics.median(cpu_per_op_us(r) for r in rs),
        "srv_us": median_or_none(r["srv_cpu"] / max(r["ops"], 1) * 1e6
                                 if "srv_cpu" in r else None for r in rs),
        "n": len(rs),
    }


# ---------------------------------------------------------------- nbdcopy

def ldd_libnbd(binary, env):
    try:
        p = subprocess.run(["ldd", binary], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    for line in p.stdout.splitlines():
        if "libnbd.so" in line and "=>" in line:
            return line.strip()
    return "?"


def bench_nbdcopy(builds, uri, rounds, timeout):
    """Run Debian's nbdcopy with each build's environment, alternating.
    Returns (name -> list of (wall, cpu), name -> error)."""
    nbdcopy = shutil.which("nbdcopy")
    out = {b.name: [] for b in builds}
    errors = {}
    if not nbdcopy:
        return out, {b.name: "nbdcopy not installed" for b in builds}
    for b in builds:
        line = ldd_libnbd(nbdcopy, b.env)
        log("  %s: %s" % (b.name, line))
        m = re.search(r"=>\s*(\S+)", line)
        if not m or not b.loads_expected_lib(m.group(1)):
            errors[b.name] = "nbdcopy would not load libnbd.so.0 from %s (%s)" % (
                b.lib_expect, line)
    for rnd in range(rounds):
        order = builds if rnd % 2 == 0 else list(reversed(builds))
        for b in order:
            if b.name in errors:
                continue
            rc, so, se, wall, cpu = run_timed([nbdcopy, uri, "null:"], b.env, timeout)
            if rc != 0:
                errors[b.name] = "exit %s: %s" % (rc, (se.strip() or so.strip())[-400:])
                log("  nbdcopy %-6s round %d: FAILED: %s" % (b.name, rnd + 1, errors[b.name]))
                continue
            out[b.name].append((wall, cpu))
            log("  nbdcopy %-6s round %d: %.3f s wall, %.3f s cpu" % (b.name, rnd + 1, wall, cpu))
    return out, errors


# ---------------------------------------------------------------- Go

GO_LINE_RE = re.compile(
    r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$", re.M)


def go_benchmarks_present():
    godir = os.path.join(ROOT, "go")
    found = set()
    if not os.path.isdir(godir):
        return found
    for fn in os.listdir(godir):
        if fn.endswith("_test.go"):
            try:
                with open(os.path.join(godir, fn), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            found.update(re.findall(r"func (BenchmarkReadAt\w*|BenchmarkCBaseline)\(", text))
    return found


def bench_go(sock, libdir, seconds, count, timeout):
    """Returns (dict name -> {ns, allocs, bytes}, error or None, raw output)."""
    present = go_benchmarks_present()
    if not any(n.startswith("BenchmarkReadAt") for n in present):
        return {}, "no BenchmarkReadAt* in go/*_test.go yet (skipped)", ""
    if not shutil.which("go"):
        return {}, "go not installed (skipped)", ""
    env = env_ours(libdir)
    env["NBD_BENCH_SOCKET"] = sock        # a prefilled memory export the Go bench may use
    env["NBD_TEST_SOCKET"] = sock
    # BenchmarkCBaseline (if the Go engineer provides it) runs the same
    # reads in C against the Go benchmark's own nbdkit: the fair comparison.
    pattern = "ReadAt|CBaseline" if "BenchmarkCBaseline" in present else "ReadAt"
    # One benchmark of each per invocation, `count` invocations: the Go
    # and C figures of a round are taken seconds apart, so load that comes
    # and goes on a shared machine hits both sides alike.
    cmd = ["go", "test", "-run", "XXX", "-bench", pattern, "-benchmem",
           "-benchtime", "%gs" % seconds, "-count", "1", "./go/"]
    log("  %d rounds of: %s" % (count, " ".join(cmd)))
    rc, out, err = 0, "", ""
    for _ in range(count):
        rc, o, err, _, _ = run_timed(cmd, env, timeout, cwd=ROOT)
        out += o
        if rc != 0:
            break
    rows = {}
    for m in GO_LINE_RE.finditer(out):
        name, ns, rest = m.group(1), float(m.group(3)), m.group(4)
        allocs = re.search(r"(\d+) allocs/op", rest)
        byts = re.search(r"(\d+) B/op", rest)
        cns = re.search(r"([\d.]+) C-(?:sync|qd64)-ns/op", rest)
        if cns:
            ns = float(cns.group(1))     # the C figure, not the framework's
        rows.setdefault(name, []).append({
            "ns": ns,
            "allocs": int(allocs.group(1)) if allocs else None,
            "bytes": int(byts.group(1)) if byts else None,
        })
    summary = {}
    for name, rs in rows.items():
        summary[name] = {
            "ns": statistics.median(r["ns"] for r in rs),
            "allocs": max((r["allocs"] for r in rs if r["allocs"] is not None), default=None),
            "bytes": max((r["bytes"] for r in rs if r["bytes"] is not None), default=None),
        }
    error = None
    if rc != 0:
        error = "go test exit %s: %s" % (rc, (err.strip() or out.strip())[-600:])
    elif not summary:
        error = "go test printed no benchmark lines"
    return summary, error, out


# ---------------------------------------------------------------- fio

# fio's own nbd ioengine (an independent benchmark users run), Debian 12's
# fio linked dynamically with libnbd.so.0, so LD_LIBRARY_PATH picks the
# library.  name, label, fio options.
FIO_JOBS = [
    ("randread4k-qd1", "fio randread 4 KiB, QD1", ["--rw=randread", "--bs=4k", "--iodepth=1"]),
    ("randread4k-qd64", "fio randread 4 KiB, QD64", ["--rw=randread", "--bs=4k", "--iodepth=64"]),
    ("randwrite4k-qd32", "fio randwrite 4 KiB, QD32", ["--rw=randwrite", "--bs=4k", "--iodepth=32"]),
    ("seqread256k-qd16", "fio sequential read 256 KiB, QD16", ["--rw=read", "--bs=256k", "--iodepth=16"]),
]


def fio_has_nbd():
    fio = shutil.which("fio")
    if not fio:
        return None, "fio not installed (apt-get install fio)"
    p = subprocess.run([fio, "--enghelp=nbd"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if "uri" not in p.stdout:
        return None, "this fio has no nbd ioengine"
    return fio, None


def fio_run(fio, build, opts, uri, seconds):
    """One fio run; returns a result dict like parse_result's, or an error."""
    cmd = [fio, "--name=nbd", "--ioengine=nbd", "--uri=" + uri, "--size=64M",
           "--time_based", "--runtime=%g" % seconds, "--ramp_time=0",
           "--output-format=json"] + opts
    rc, out, err, _, _ = run_timed(cmd, build.env, timeout=seconds * 10 + 60)
    if rc != 0:
        return None, "exit %s: %s" % (rc, (err.strip() or out.strip())[-300:])
    try:
        job = json.loads(out[out.index("{"):])["jobs"][0]
    except (ValueError, KeyError, IndexError) as e:
        return None, "unreadable fio output (%s)" % e
    ios = job["read"]["total_ios"] + job["write"]["total_ios"]
    nbytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
    secs = job["job_runtime"] / 1000.0
    # fio's usr_cpu/sys_cpu are percentages of the job's runtime.
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * secs
    return {"ops": ios, "bytes": nbytes, "seconds": secs, "cpu": cpu,
            "sys": job["sys_cpu"] / 100.0 * secs}, None


def bench_fio(builds, uri, rounds, seconds):
    """Interleaved rounds of each fio job with each build's library.
    Returns (job -> (build name -> list of results), errors)."""
    fio, why = fio_has_nbd()
    results = {j[0]: {b.name: [] for b in builds} for j in FIO_JOBS}
    if not fio:
        return results, {"fio": why}
    errors = {}
    for b in builds:
        line = ldd_libnbd(fio, b.env)
        log("  %s: %s" % (b.name, line))
        m = re.search(r"=>\s*(\S+)", line)
        if not m or not b.loads_expected_lib(m.group(1)):
            errors[b.name] = "fio would not load libnbd.so.0 from %s (%s)" % (b.lib_expect, line)
    for name, label, opts in FIO_JOBS:
        log("%s (%s):" % (name, label))
        for rnd in range(rounds):
            order = builds if rnd % 2 == 0 else list(reversed(builds))
            for b in order:
                if b.name in errors:
                    continue
                res, err = fio_run(fio, b, opts, uri, seconds)
                if res is None:
                    errors.setdefault("%s %s" % (b.name, name), err)
                    log("  %-6s round %d: FAILED: %s" % (b.name, rnd + 1, err))
                    continue
                results[name][b.name].append(res)
                log("  %-6s round %d: %10.0f IOPS %8.2f us CPU/op (fio's usr+sys)" % (
                    b.name, rnd + 1, res["ops"] / res["seconds"], cpu_per_op_us(res)))
    return results, errors


# ---------------------------------------------------------------- syscalls

PERF_SYSCALLS = ["read", "readv", "recvfrom", "recvmsg", "write", "writev",
                 "sendto", "sendmsg", "poll", "ppoll", "epoll_wait",
                 "epoll_pwait", "futex", "clock_gettime", "getrusage"]


def run_traced(build, tracer, workload, sock, seconds, timeout):
    """Run one workload of build under the tracer command prefix.
    Returns (result dict, None) or (None, error text)."""
    rc, out, err, _, _ = run_timed(
        tracer + [build.binary, workload, sock, str(seconds)], build.env, timeout)
    res = parse_result(out) if rc == 0 else None
    if res is None:
        return None, "exit %s: %s" % (rc, err.strip()[-300:])
    return res, None


def perf_counts(build, workload, sock, seconds, tmpdir):
    """perf stat tracepoints: real batching behaviour, little overhead."""
    outf = os.path.join(tmpdir, "perf-%s-%s.csv" % (build.name, workload))
    events = ["raw_syscalls:sys_enter", "context-switches"] + \
             ["syscalls:sys_enter_" + n for n in PERF_SYSCALLS]
    res, err = run_traced(build, ["perf", "stat", "-x", ",", "-o", outf,
                                  "-e", ",".join(events)],
                          workload, sock, seconds, timeout=seconds * 10 + 60)
    if res is None:
        return None, err
    counts = {}
    with open(outf, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 3 or not parts[0].strip().isdigit():
                continue
            ev = parts[2]
            name = ev.replace("syscalls:sys_enter_", "")
            if ev == "raw_syscalls:sys_enter":
                name = "total"
            counts[name] = int(parts[0])
    return (res, counts), None


def strace_counts(build, workload, sock, seconds, tmpdir):
    """strace -c: every system call by name, but slows the client a lot."""
    outf = os.path.join(tmpdir, "strace-%s-%s.txt" % (build.name, workload))
    res, err = run_traced(build, ["strace", "-f", "-c", "-U", "name,calls",
                                  "-o", outf],
                          workload, sock, seconds, timeout=seconds * 20 + 120)
    if res is None:
        return None, err
    counts = {}
    with open(outf, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return (res, counts), None


def run_syscalls(builds, sock, seconds, tmpdir, tracer):
    if tracer == "auto":
        tracer = "perf" if shutil.which("perf") else "strace"
    if not shutil.which(tracer):
        log("%s not installed" % tracer)
        return
    fn = perf_counts if tracer == "perf" else strace_counts
    log("\nSystem calls per operation (%s; whole process, all threads; "
        "setup/teardown calls are included but amortised over the run)\n"
        % ("perf stat syscall tracepoints" if tracer == "perf" else
           "strace -f -c, which slows the client and so hides batching"))
    for workload, label, _ in WORKLOADS:
        log("### %s (%s)" % (workload, label))
        per = {}
        for b in builds:
            if not b.available():
                log("  %-6s FAILED: binary not built" % b.name)
                continue
            got, err = fn(b, workload, sock, seconds, tmpdir)
            if err:
                log("  %-6s FAILED: %s" % (b.name, err))
                continue
            res, counts = got
            per[b.name] = (res["ops"], counts)
        if not per:
            continue
        peak = {n: max(c.get(n, 0) / max(o, 1) for o, c in per.values())
                for _, counts in per.values() for n in counts if n != "total"}
        names = sorted((n for n in peak if peak[n] >= 0.005), key=lambda n: -peak[n])
        log("  %-18s" % "per op" + "".join("%14s" % b.name for b in builds if b.name in per))
        for n in ["total"] + names[:12]:
            row = "  %-18s" % n
            for b in builds:
                if b.name in per:
                    ops, counts = per[b.name]
                    row += "%14.3f" % (counts.get(n, 0) / max(ops, 1))
            log(row)
        log("  (ops: %s)\n" % ", ".join("%s=%d" % (k, v[0]) for k, v in per.items()))


# ---------------------------------------------------------------- report

def fmt_rate(v, unit):
    if v is None:
        return FAILED
    if unit == "mibs":
        return "%.0f MiB/s" % v
    return "%.0f" % v


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.2f" % (a / b)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg", encoding="utf-8") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


LOAD_AT_START = None


def verdict(ok):
    if ok is None:
        return "n/a"
    return "met" if ok else "**not met**"


def build_report(args, ours, sysb, summaries, copy, copy_err, go, go_err):
    lines = []
    today = datetime.date.today().isoformat()
    lines.append("### Benchmark results (%s)" % today)
    lines.append("")
    lines.append("Machine: `uname -m` = %s, CPU: %s, nproc = %d. "
                 "nbdkit memory plugin 1 GiB over a Unix socket; %d rounds x %g s "
                 "per workload, builds alternating; medians shown. "
                 "ours = %s, libnbd = %s %s. CPU/op is the client's own "
                 "user+sys time (getrusage) per operation. Load average at "
                 "start %s, at end %s (other work on the machine makes wall-clock "
                 "ratios noisy; CPU/op is steadier)."
                 % (platform.machine(), cpu_model(), os.cpu_count() or 0,
                    args.rounds, args.seconds,
                    ours.lib_path or "build/lib/libnbd.so.0",
                    sysb.lib_path or "system libnbd",
                    sysb.version or "", LOAD_AT_START, loadavg()))
    lines.append("")
    lines.append("| Workload | ours | libnbd | ratio ours/libnbd | CPU/op ours | "
                 "CPU/op libnbd | CPU/op ratio | nbdkit CPU/op (ours / libnbd) |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")

    def srv(x):
        return "%.0f" % x["srv_us"] if x and x.get("srv_us") is not None else "?"
    for workload, label, unit in WORKLOADS:
        so, ss = summaries[workload]
        lines.append("| %s (%s) | %s | %s | %s | %s | %s | %s | %s / %s us |" % (
            label, UNIT_NAME[unit],
            fmt_rate(so and so["rate"], unit), fmt_rate(ss and ss["rate"], unit),
            fmt_ratio(so and so["rate"], ss and ss["rate"]),
            "%.2f us" % so["cpu_us"] if so else FAILED,
            "%.2f us" % ss["cpu_us"] if ss else FAILED,
            fmt_ratio(so and so["cpu_us"], ss and ss["cpu_us"]),
            srv(so), srv(ss)))
    # nbdcopy
    cw_o = median_or_none([w for w, _ in copy.get("ours", [])])
    cw_s = median_or_none([w for w, _ in copy.get("libnbd", [])])
    cc_o = median_or_none([c for _, c in copy.get("ours", [])])
    cc_s = median_or_none([c for _, c in copy.get("libnbd", [])])
    if not args.no_nbdcopy:
        lines.append("| nbdcopy 1 GiB pattern export to null: (wall s; speed ratio = libnbd/ours) "
                 "| %s | %s | %s | %s | %s | %s |" % (
                     "%.3f s" % cw_o if cw_o else FAILED,
                     "%.3f s" % cw_s if cw_s else FAILED,
                     fmt_ratio(cw_s, cw_o),
                     "%.3f s" % cc_o if cc_o else FAILED,
                     "%.3f s" % cc_s if cc_s else FAILED,
                     fmt_ratio(cc_o, cc_s)) + " – |")
    lines.append("")

    # Go.  Two C references: this harness's figures for our library, and
    # BenchmarkCBaseline (same reads in C against the Go benchmark's own
    # nbdkit, so the same server); the targets use the second when present.
    c_sync_o = summaries["read4k-sync"][0]
    c_qd_o = summaries["read4k-qd64"][0]
    g1 = go.get("BenchmarkReadAt4K")
    g64 = go.get("BenchmarkReadAt4KParallel64")
    cb_sync = go.get("BenchmarkCBaseline/sync")
    cb_qd = go.get("BenchmarkCBaseline/qd64")
    h_sync_ns = 1e9 / c_sync_o["rate"] if c_sync_o else None
    h_qd_iops = c_qd_o["rate"] if c_qd_o else None
    ref_sync_ns = cb_sync["ns"] if cb_sync else h_sync_ns
    ref_qd_iops = 1e9 / cb_qd["ns"] if cb_qd else h_qd_iops
    if go:
        lines.append("| Go benchmark (our core) | ns/op | B/op | allocs/op | IOPS | "
                     "C, same server (CBaseline) | C, this harness | Go/C |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in sorted(go):
            g = go[name]
            iops = 1e9 / g["ns"] if g["ns"] else None
            cb, ch, cmp_ = "", "", ""
            if name == "BenchmarkReadAt4K":
                cb = "%.0f ns/op" % cb_sync["ns"] if cb_sync else "n/a"
                ch = "%.0f ns/op" % h_sync_ns if h_sync_ns else "n/a"
                if ref_sync_ns:
                    cmp_ = "latency %.2fx" % (g["ns"] / ref_sync_ns)
            elif name == "BenchmarkReadAt4KParallel64":
                cb = "%.0f IOPS" % (1e9 / cb_qd["ns"]) if cb_qd else "n/a"
                ch = "%.0f IOPS" % h_qd_iops if h_qd_iops else "n/a"
                if ref_qd_iops:
                    cmp_ = "IOPS %.2fx" % (iops / ref_qd_iops)
            elif name.startswith("BenchmarkCBaseline"):
                cmp_ = "(C reference)"
            cbase = name.startswith("BenchmarkCBaseline")   # B/op is the exec's, not ours
            lines.append("| %s | %.0f | %s | %s | %.0f | %s | %s | %s |" % (
                name, g["ns"], "" if cbase or g["bytes"] is None else g["bytes"],
                "" if cbase or g["allocs"] is None else g["allocs"], iops, cb, ch, cmp_))
        lines.append("")
    if go_err:
        lines.append("Go: %s" % go_err.replace("\n", " ")[:400])
        lines.append("")

    # Targets
    def r(w, key="rate"):
        so, ss = summaries[w]
        if not so or not ss or not ss[key]:
            return None
        return so[key] / ss[key]

    qd_i, qd_c = r("read4k-qd64"), r("read4k-qd64", "cpu_us")
    sy_i = r("read4k-sync")
    cn = r("connect")
    sq_t, sq_c = r("seqread256k"), r("seqread256k", "cpu_us")
    mt = r("read4k-mt8")
    cp = (cw_s / cw_o) if (cw_o and cw_s) else None
    g64r = (1e9 / g64["ns"]) / ref_qd_iops if (g64 and ref_qd_iops) else None
    g1r = g1["ns"] / ref_sync_ns if (g1 and ref_sync_ns) else None
    allocs = [g["allocs"] for g in (g1, g64) if g and g["allocs"] is not None]

    def both(a, b):
        return None if a is None or b is None else (a and b)

    def f(x, fmt="%.2f"):
        return "n/a" if x is None else fmt % x

    targets = [
        ("4 KiB QD64: CPU/op ratio <= 0.6 and IOPS ratio >= 1.2",
         "CPU/op %s, IOPS %s" % (f(qd_c), f(qd_i)),
         both(None if qd_c is None else qd_c <= 0.6, None if qd_i is None else qd_i >= 1.2)),
        ("4 KiB sync IOPS ratio >= 1.0", f(sy_i), None if sy_i is None else sy_i >= 1.0),
        ("connect+handshake+close rate >= 1.5x", f(cn), None if cn is None else cn >= 1.5),
        ("256 KiB seq read throughput >= 1.0 and CPU/op <= 0.9",
         "throughput %s, CPU/op %s" % (f(sq_t), f(sq_c)),
         both(None if sq_t is None else sq_t >= 1.0, None if sq_c is None else sq_c <= 0.9)),
        ("8 threads / 1 handle IOPS >= 2x", f(mt), None if mt is None else mt >= 2.0),
        ("nbdcopy 1 GiB speed >= 1.0x", f(cp), None if cp is None else cp >= 1.0),
        ("Go 64 goroutines >= 0.8x C QD64 IOPS (our core%s)" % (", same server" if cb_qd else ""), f(g64r), None if g64r is None else g64r >= 0.8),
        ("Go 1-goroutine ReadAt latency <= 1.3x C sync (our core%s)" % (", same server" if cb_sync else ""), f(g1r), None if g1r is None else g1r <= 1.3),
        ("Go 0 allocs/op", ", ".join(str(a) for a in allocs) if allocs else "n/a",
         (max(allocs) == 0) if allocs else None),
    ]
    lines.append("| Target (issue 6) | measured (ours/libnbd unless noted) | status |")
    lines.append("|---|---:|---|")
    for name, meas, ok in targets:
        lines.append("| %s | %s | %s |" % (name, meas, verdict(ok)))
    lines.append("")

    failures = []
    for b in (ours, sysb):
        for w, e in b.errors.items():
            failures.append("%s %s: %s" % (b.name, w, e.replace("\n", " ")[:300]))
    for name, e in copy_err.items():
        failures.append("nbdcopy %s: %s" % (name, e.replace("\n", " ")[:300]))
    if failures:
        lines.append("Failures:")
        lines.append("")
        for fl in failures:
            lines.append("- " + fl.replace("|", "\\|"))
        lines.append("")
    return "\n".join(lines)


def extra_report(args, b13, summaries13, fio_res, fio_err, fio_builds,
                 qemu_sum=None, qemu_builds=()):
    """The libnbd 1.22 table (Debian 13 chroot) and the fio table."""
    lines = []
    if b13:
        o13, d13 = b13
        lines.append("Against libnbd %s (Debian 13 chroot %s; the same benchmark binary and "
                     "the same nbdkit as above; both columns run in the chroot, on trixie's "
                     "glibc, ours with LD_LIBRARY_PATH=/opt/ours):"
                     % (d13.version or "1.22", args.chroot))
        lines.append("")
        lines.append("| Workload | ours (in trixie) | libnbd 1.22 | ratio ours/1.22 | CPU/op ours | "
                     "CPU/op 1.22 | CPU/op ratio |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for workload, label, unit in WORKLOADS:
            so, ss = summaries13.get(workload, (None, None))
            lines.append("| %s (%s) | %s | %s | %s | %s | %s | %s |" % (
                label, UNIT_NAME[unit],
                fmt_rate(so and so["rate"], unit), fmt_rate(ss and ss["rate"], unit),
                fmt_ratio(so and so["rate"], ss and ss["rate"]),
                "%.2f us" % so["cpu_us"] if so else FAILED,
                "%.2f us" % ss["cpu_us"] if ss else FAILED,
                fmt_ratio(so and so["cpu_us"], ss and ss["cpu_us"])))
        lines.append("")
        for b in b13:
            for w, e in b.errors.items():
                lines.append("- %s %s: %s" % (b.name, w, e.replace("\n", " ")[:300]))
        if any(b.errors for b in b13):
            lines.append("")
    if qemu_sum:
        lines.append("Against qemu-nbd 10.0 in the Debian 13 chroot (raw 1 GiB file, "
                     "--cache=writeback; the same binary in the chroot): libnbd 1.22 "
                     "with extended headers (its default; qemu-nbd agrees) and with "
                     "them off (nbd_set_request_extended_headers(false)); ours with them (its default):")
        lines.append("")
        lines.append("| Workload | ours | 1.22 ext on | 1.22 ext off | ours/on | ours/off | "
                     "CPU/op ours | on | off | CPU ratio ours/on | ours/off |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workload, label, unit in WORKLOADS:
            if workload not in qemu_sum:
                continue
            so, son, soff = qemu_sum[workload]
            cpu = lambda x: "%.2f us" % x["cpu_us"] if x else FAILED
            lines.append("| %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, UNIT_NAME[unit],
                fmt_rate(so and so["rate"], unit), fmt_rate(son and son["rate"], unit),
                fmt_rate(soff and soff["rate"], unit),
                fmt_ratio(so and so["rate"], son and son["rate"]),
                fmt_ratio(so and so["rate"], soff and soff["rate"]),
                cpu(so), cpu(son), cpu(soff),
                fmt_ratio(so and so["cpu_us"], son and son["cpu_us"]),
                fmt_ratio(so and so["cpu_us"], soff and soff["cpu_us"])))
        lines.append("")
        for b in qemu_builds:
            for w, e in b.errors.items():
                lines.append("- qemu-nbd %s %s: %s" % (b.name, w, e.replace("\n", " ")[:300]))
        lines.append("")
    if fio_res is not None:
        lines.append("fio %s `nbd` ioengine (Debian 12's fio; the same nbdkit memory export; "
                     "%d rounds x %g s, libraries alternating, medians; CPU/op from fio's "
                     "usr+sys CPU of the job, which includes fio's own work):"
                     % (fio_version(), args.rounds, args.fio_seconds))
        lines.append("")
        ob, sb = fio_builds
        lines.append("| fio job | ours | libnbd 1.14 | ratio | CPU/op ours | CPU/op 1.14 | CPU/op ratio |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, label, opts in FIO_JOBS:
            unit = "mibs" if "--bs=256k" in opts else "iops"
            so = summarize_list(fio_res.get(name, {}).get(ob.name, []), unit)
            ss = summarize_list(fio_res.get(name, {}).get(sb.name, []), unit)
            lines.append("| %s (%s) | %s | %s | %s | %s | %s | %s |" % (
                label, UNIT_NAME[unit],
                fmt_rate(so and so["rate"], unit), fmt_rate(ss and ss["rate"], unit),
                fmt_ratio(so and so["rate"], ss and ss["rate"]),
                "%.2f us" % so["cpu_us"] if so else FAILED,
                "%.2f us" % ss["cpu_us"] if ss else FAILED,
                fmt_ratio(so and so["cpu_us"], ss and ss["cpu_us"])))
        lines.append("")
        for k, e in fio_err.items():
            lines.append("- fio %s: %s" % (k, e.replace("\n", " ")[:300]))
        if fio_err:
            lines.append("")
    return "\n".join(lines)


def summarize_list(rs, unit):
    if not rs:
        return None
    return {"rate": statistics.median(rate(r, unit) for r in rs),
            "cpu_us": statistics.median(cpu_per_op_us(r) for r in rs)}


def fio_version():
    try:
        return subprocess.run(["fio", "--version"], stdout=subprocess.PIPE,
                              text=True).stdout.strip()
    except OSError:
        return "?"


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", required=True, help="benchmark binary linked with our library")
    ap.add_argument("--sys", required=True, help="benchmark binary linked with system libnbd")
    ap.add_argument("--ours-libdir", default="build/lib")
    ap.add_argument("--sys-libdir", default="/usr/lib/x86_64-linux-gnu",
                    help="directory of the system libnbd.so.0")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 2)))
    ap.add_argument("--workloads", default="", help="comma-separated subset")
    ap.add_argument("--out", default=None, help="save the markdown table here")
    ap.add_argument("--no-nbdcopy", action="store_true")
    ap.add_argument("--no-go", action="store_true")
    ap.add_argument("--chroot", default=None,
                    help="Debian 13 chroot (debian13-chroot.sh, mounted): also run the "
                         "workloads there with libnbd 1.22 and with ours")
    ap.add_argument("--chroot-bin", default="/opt/bench/nbdbench",
                    help="the benchmark binary, as a path inside the chroot")
    ap.add_argument("--chroot-libdir", default="/opt/ours",
                    help="our libnbd.so.0's directory inside the chroot")
    ap.add_argument("--no-fio", action="store_true")
    ap.add_argument("--no-qemu", action="store_true",
                    help="with --chroot: skip the qemu-nbd (extended headers) runs")
    ap.add_argument("--fio-seconds", type=float, default=None,
                    help="runtime of each fio run (default: --seconds)")
    ap.add_argument("--syscalls", action="store_true",
                    help="count system calls per op instead of timing")
    ap.add_argument("--tracer", choices=["auto", "perf", "strace"], default="auto",
                    help="--syscalls counter: perf stat tracepoints (default) or strace -c")
    args = ap.parse_args()

    if not shutil.which("nbdkit"):
        sys.exit("bench: nbdkit is not installed")
    global WORKLOADS
    if args.workloads:
        keep = set(args.workloads.split(","))
        WORKLOADS = [w for w in WORKLOADS if w[0] in keep]

    global LOAD_AT_START
    LOAD_AT_START = loadavg()
    ours_libdir = os.path.abspath(args.ours_libdir)
    ours = Build("ours", os.path.abspath(args.ours), env_ours(ours_libdir), ours_libdir)
    sysb = Build("libnbd", os.path.abspath(args.sys), env_sys(), args.sys_libdir)
    builds = [ours, sysb]
    b13 = None
    if args.chroot and not args.syscalls:
        root = os.path.realpath(args.chroot)
        args.chroot = root
        ours13 = Build("ours13", args.chroot_bin,
                       dict(env_sys(), LD_LIBRARY_PATH=args.chroot_libdir),
                       args.chroot_libdir, chroot=root)
        deb13 = Build("deb13", args.chroot_bin, env_sys(),
                      "/usr/lib/x86_64-linux-gnu", chroot=root)
        b13 = (ours13, deb13)
    if args.fio_seconds is None:
        args.fio_seconds = args.seconds

    # With a chroot, the sockets live inside it so that its programs reach
    # the same nbdkit.
    tmpdir = tempfile.mkdtemp(prefix="nbdbench.",
                              dir=os.path.join(args.chroot, "tmp") if b13 else None)
    kits = []
    try:
        mem = Nbdkit(tmpdir, "memory", ["memory", "1G"])
        kits.append(mem)
        # Prefill the 64 MiB the workloads touch, with whichever build works.
        filled = False
        for b in (sysb, ours):
            if b.run("fill", mem.sock, args.seconds):
                filled = True
                break
        if not filled:
            log("bench: warning: could not prefill the export (%s)" %
                "; ".join("%s: %s" % (b.name, b.errors.get("fill")) for b in builds))
        for b in builds:
            b.errors.pop("fill", None)
            b.results.pop("fill", None)

        if args.syscalls:
            run_syscalls(builds, mem.sock, args.seconds, tmpdir, args.tracer)
            return 0

        summaries, summaries13 = {}, {}
        timed = builds + list(b13 or [])
        for workload, label, unit in WORKLOADS:
            log("%s (%s):" % (workload, label))
            for rnd in range(args.rounds):
                # Every build goes first in turn.
                k = rnd % len(timed)
                order = timed[k:] + timed[:k]
                for b in order:
                    if workload in b.errors:
                        continue      # failed once: do not retry every round
                    res = b.run(workload, mem.sock, args.seconds, mem.pid())
                    if res:
                        log("  %-6s round %d: %10.0f %-6s %8.2f us CPU/op (%2.0f%% sys)" % (
                            b.name, rnd + 1, rate(res, unit), UNIT_NAME[unit],
                            cpu_per_op_us(res),
                            100.0 * res["sys"] / res["cpu"] if res["cpu"] else 0))
                    else:
                        log("  %-6s round %d: FAILED: %s" % (
                            b.name, rnd + 1, b.errors[workload][:300]))
            summaries[workload] = (summarize(ours, workload, unit),
                                   summarize(sysb, workload, unit))
            if b13:
                summaries13[workload] = (summarize(b13[0], workload, unit),
                                         summarize(b13[1], workload, unit))
        for w in ("read4k-sync", "read4k-qd64", "seqread256k", "connect", "read4k-mt8"):
            summaries.setdefault(w, (None, None))

        qemu_sum, qemu_builds = {}, []
        qwork = [w for w in QEMU_WORKLOADS if any(w == x[0] for x in WORKLOADS)]
        if b13 and not args.no_qemu and qwork:
            log("qemu-nbd 10 in the chroot (libnbd 1.22 with extended headers on and off):")
            q = ChrootQemu(args.chroot, tmpdir)
            kits.append(q)
            root = args.chroot
            qemu_builds = [
                # Ours asks for extended headers too (as libnbd 1.22 does).
                Build("qours", args.chroot_bin,
                      dict(env_sys(), LD_LIBRARY_PATH=args.chroot_libdir),
                      args.chroot_libdir, chroot=root, expect_ext="1"),
                Build("q122", args.chroot_bin, env_sys(),
                      "/usr/lib/x86_64-linux-gnu", chroot=root, expect_ext="1"),
                Build("q122ne", args.chroot_bin,
                      dict(env_sys(), NBDBENCH_EXTENDED_HEADERS="0"),
                      "/usr/lib/x86_64-linux-gnu", chroot=root, expect_ext="0"),
            ]
            if not qemu_builds[1].run("fill", q.sock, args.seconds):
                log("bench: warning: could not prefill qemu-nbd: %s"
                    % qemu_builds[1].errors.get("fill"))
            qemu_builds[1].errors.pop("fill", None)
            qemu_builds[1].results.pop("fill", None)
            units = {w: u for w, _, u in WORKLOADS}
            for workload in qwork:
                log("%s on qemu-nbd:" % workload)
                for rnd in range(args.rounds):
                    k = rnd % len(qemu_builds)
                    for b in qemu_builds[k:] + qemu_builds[:k]:
                        if workload in b.errors:
                            continue
                        res = b.run(workload, q.sock, args.seconds, q.pid())
                        if res:
                            log("  %-6s round %d: %10.0f %-6s %8.2f us CPU/op" % (
                                b.name, rnd + 1, rate(res, units[workload]),
                                UNIT_NAME[units[workload]], cpu_per_op_us(res)))
                        else:
                            log("  %-6s round %d: FAILED: %s" % (
                                b.name, rnd + 1, b.errors[workload][:300]))
                qemu_sum[workload] = tuple(summarize(b, workload, units[workload])
                                           for b in qemu_builds)
            q.stop()

        copy, copy_err = {}, {}
        if not args.no_nbdcopy:
            log("nbdcopy (1 GiB pattern-plugin export -> null:):")
            pat = Nbdkit(tmpdir, "pattern", ["pattern", "1G"])
            kits.append(pat)
            copy, copy_err = bench_nbdcopy(builds, pat.uri(), max(args.rounds, 5),
                                           timeout=120)

        fio_res, fio_err = None, {}
        if not args.no_fio:
            log("fio nbd ioengine (nbdkit memory, 64 MiB):")
            fio_res, fio_err = bench_fio(builds, mem.uri(), args.rounds, args.fio_seconds)

        go, go_err = {}, None
        if not args.no_go:
            log("Go benchmarks:")
            go, go_err, raw = bench_go(mem.sock, ours_libdir, args.seconds,
                                       min(args.rounds, 5), timeout=600)
            if raw:
                log("\n".join("  " + l for l in raw.splitlines() if l.strip()))
            if go_err:
                log("  " + go_err)

        report = build_report(args, ours, sysb, summaries, copy, copy_err, go, go_err)
        report += "\n" + extra_report(args, b13, summaries13, fio_res, fio_err, builds,
                                       qemu_sum, qemu_builds)
        log("")
        log(report)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(report + "\n")
            log("(saved to %s)" % args.out)
        return 0
    finally:
        for k in kits:
            k.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

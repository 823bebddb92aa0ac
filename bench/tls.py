#!/usr/bin/env python3
"""bench/tls.py: the C workloads over TLS, our library against the system
libnbd (both with GnuTLS), in one run (issue 12).

One nbdkit (memory plugin, --tls=require, X.509 certificates made by
testdata/tls_certs.sh) on a private Unix socket; the same nbdbench
source built against each library (bench/bench.mk) connects with
NBDBENCH_TLS_CERTS set.  Rounds alternate ours/libnbd; the table gives
medians, the ratio ours/libnbd (higher is better) and client CPU per
operation.  Markdown to stdout and to --out.

Usage: tls.py --ours BIN --sys BIN --ours-libdir DIR [--rounds N] [--seconds S] [--out FILE]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

WORKLOADS = [
    ("connect", "TLS connect + handshake + close", "conn/s"),
    ("read4k-sync", "TLS 4 KiB random read, sync", "IOPS"),
    ("read4k-qd64", "TLS 4 KiB random read, 64 in flight", "IOPS"),
    ("seqread256k", "TLS 256 KiB sequential read, 16 in flight", "MiB/s"),
    ("seqwrite256k", "TLS 256 KiB sequential write, 16 in flight", "MiB/s"),
]


def run(binary, workload, sock, seconds, env):
    p = subprocess.run([binary, workload, sock, str(seconds)], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            d = dict(kv.split("=", 1) for kv in line.split()[1:])
            return int(d["ops"]), int(d["bytes"]), float(d["seconds"]), float(d["cpu"])
    raise RuntimeError("%s %s failed: %s" % (binary, workload, p.stderr.strip()[-300:]))


def rate(unit, ops, nbytes, secs):
    return nbytes / secs / 2**20 if unit == "MiB/s" else ops / secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--sys", required=True)
    ap.add_argument("--ours-libdir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    if not (shutil.which("certtool") and shutil.which("nbdkit")):
        sys.exit("bench/tls.py: needs nbdkit and certtool (gnutls-bin)")

    tmp = tempfile.mkdtemp(prefix="nbdbench-tls-")
    pki = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(ROOT, "testdata", "tls_certs.sh"), pki],
                   check=True, capture_output=True)
    sock = os.path.join(tmp, "tls.sock")
    pidfile = os.path.join(tmp, "pid")
    srv = subprocess.Popen(["nbdkit", "-f", "--exit-with-parent", "-U", sock,
                            "-P", pidfile, "--tls=require",
                            "--tls-certificates=" + pki, "memory", "1G"],
                           stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(pidfile):
            if srv.poll() is not None or time.monotonic() > deadline:
                sys.exit("bench/tls.py: nbdkit did not start")
            time.sleep(0.05)
        base = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")}
        base["NBDBENCH_TLS_CERTS"] = os.path.join(pki, "client")
        env = {"sys": dict(base), "ours": dict(base, LD_LIBRARY_PATH=os.path.abspath(a.ours_libdir))}
        binary = {"sys": a.sys, "ours": a.ours}
        run(a.ours, "fill", sock, 1, env["ours"])
        res = {(w, lib): [] for w, _, _ in WORKLOADS for lib in ("ours", "sys")}
        for rnd in range(a.rounds):
            for w, _, unit in WORKLOADS:
                order = ("ours", "sys") if rnd % 2 == 0 else ("sys", "ours")
                for lib in order:
                    ops, nbytes, secs, cpu = run(binary[lib], w, sock, a.seconds, env[lib])
                    res[(w, lib)].append((rate(unit, ops, nbytes, secs), cpu / ops * 1e6))
            print("tls round %d/%d done" % (rnd + 1, a.rounds), flush=True)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = ["| workload (TLS, X.509, nbdkit memory over a Unix socket) | ours | libnbd | ratio | CPU/op ours (µs) | CPU/op libnbd (µs) | CPU/op ratio |",
             "|---|---|---|---|---|---|---|"]
    for w, label, unit in WORKLOADS:
        o = statistics.median(x[0] for x in res[(w, "ours")])
        s = statistics.median(x[0] for x in res[(w, "sys")])
        oc = statistics.median(x[1] for x in res[(w, "ours")])
        sc = statistics.median(x[1] for x in res[(w, "sys")])
        lines.append("| %s | %.1f %s | %.1f %s | %.2f× | %.1f | %.1f | %.2f× |"
                     % (label, o, unit, s, unit, o / s, oc, sc, oc / sc))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

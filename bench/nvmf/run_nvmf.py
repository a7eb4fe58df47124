#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""NVMe/TCP benchmark: nvmf_tgt on core 0 serving a malloc namespace (4 KiB
blocks), nvme_perf on core 1, over 127.0.0.1. See run_nvmf.sh for usage.

For each case, RUNS runs of SECONDS each (interleaved: case A run 1, case B
run 1, ..., so that noise from the machine hits every case alike); reports
the median of IOPS, MiB/s, average and p99 latency, and CPU time per I/O of
the target and of the initiator. Target CPU is the utime+stime delta of the
nvmf_tgt process (/proc/PID/stat) over the nvme_perf run, divided by the
I/Os completed; initiator CPU is nvme_perf's own rusage (it includes its
connect and start-up, a few ms). Prints a table, then one JSON line per
result (also appended to -j FILE).

No NVMe/TCP-capable fio engine is packaged here, so the peer column is
SPDK's published figure: 250-425 k IOPS per target core for 4 KiB random
reads at queue depth 32 (nvmf_tgt, NVMe/TCP, one core).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
RPC = os.path.join(ROOT, "scripts", "rpc.py")
NQN = "nqn.2016-06.io.spdk:bench1"


def free_port():
    """A TCP port free on 127.0.0.1 now (bind port 0, read it, close), so that two
    benchmark runs on one machine do not collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = os.environ.get("NVMF_BENCH_PORT") or str(free_port())
CLK_TCK = os.sysconf("SC_CLK_TCK")
SPDK_REF = "250-425k IOPS/core"

CASES = [
    # name, pattern, io size, queue depth, reference
    ("4k randread qd1", "randread", 4096, 1, ""),
    ("4k randread qd32", "randread", 4096, 32, SPDK_REF),
    ("4k randread qd128", "randread", 4096, 128, ""),
    ("4k randwrite qd1", "randwrite", 4096, 1, ""),
    ("4k randwrite qd32", "randwrite", 4096, 32, ""),
    ("4k randwrite qd128", "randwrite", 4096, 128, ""),
    ("128k read qd32", "read", 131072, 32, ""),
]


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)


def rpc(sock, *args):
    r = subprocess.run([sys.executable, RPC, "-s", sock, *args], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def start_target(tmp, mem_mb, extra):
    sock = os.path.join(tmp, "tgt.sock")
    log = open(os.path.join(tmp, "tgt.log"), "w+")
    p = subprocess.Popen([os.path.join(BIN, "nvmf_tgt"), "-m", "0x1", "-r", sock, *extra],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            rpc(sock, "framework_wait_init")
            break
        except (OSError, RuntimeError):
            time.sleep(0.1)
    if p.poll() is not None:
        log.seek(0)
        raise RuntimeError("nvmf_tgt did not start:\n" + log.read())
    rpc(sock, "nvmf_create_transport", "-t", "tcp")
    rpc(sock, "bdev_malloc_create", "-b", "Malloc0", str(mem_mb), "4096")
    rpc(sock, "nvmf_create_subsystem", NQN, "-a", "-s", "OSPBENCH1")
    rpc(sock, "nvmf_subsystem_add_ns", NQN, "Malloc0")
    rpc(sock, "nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1", "-s", PORT)
    return p, sock


def run_case(tgt, case, secs):
    name, pattern, size, qd, _ = case
    trid = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:%s" % (PORT, NQN)
    cmd = [os.path.join(BIN, "nvme_perf"), "-c", "0x2", "-q", str(qd), "-o", str(size), "-w",
           pattern, "-t", str(secs), "-r", trid, "--json"]
    t0 = cpu_ticks(tgt.pid)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=secs + 60)
    t1 = cpu_ticks(tgt.pid)
    # The child is reaped by communicate(); its rusage is in the process-wide children total.
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, err[-800:]))
    total = [json.loads(l) for l in out.splitlines() if l.startswith("{") and
             '"device":"Total"' in l]
    if not total:
        raise RuntimeError("no Total JSON line from nvme_perf:\n" + out[-800:])
    return total[0], (t1 - t0) / CLK_TCK


def children_cpu():
    ru = os.times()
    return ru.children_user + ru.children_system


def main():
    ap = argparse.ArgumentParser(description="NVMe/TCP benchmark (nvmf_tgt + nvme_perf)")
    ap.add_argument("-n", "--runs", type=int, default=3, help="runs per case (median)")
    ap.add_argument("-t", "--time", type=int, default=10, help="seconds per run")
    ap.add_argument("-j", "--json", help="append the JSON lines to this file")
    ap.add_argument("-m", "--malloc-mb", type=int, default=128, help="namespace size in MiB")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--polling", action="store_true",
                    help="start nvmf_tgt with --polling (never sleep when idle)")
    args = ap.parse_args()

    for b in ("nvmf_tgt", "nvme_perf"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            print("run_nvmf: %s/%s missing: build first (make)" % (BIN, b), file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("run_nvmf: needs 2 cores (target on core 0, initiator on core 1)", file=sys.stderr)
        return 1
    cases = [c for c in CASES if not args.only or args.only in c[0]]
    tmp = tempfile.mkdtemp(prefix="osp_bench_nvmf_")
    tgt, _ = start_target(tmp, args.malloc_mb, ["--polling"] if args.polling else [])
    samples = {c[0]: [] for c in cases}
    try:
        for i in range(args.runs):
            for c in cases:
                before = children_cpu()
                res, tgt_cpu = run_case(tgt, c, args.time)
                init_cpu = children_cpu() - before
                ios = max(res["ios"], 1)
                samples[c[0]].append({
                    "iops": res["iops"], "mibps": res["mibps"], "avg_us": res["avg_us"],
                    "p99_us": res["p99_us"],
                    "tgt_cpu_us_per_io": tgt_cpu * 1e6 / ios,
                    "init_cpu_us_per_io": init_cpu * 1e6 / ios,
                })
                print("  run %d/%d %-20s %10.0f IOPS" % (i + 1, args.runs, c[0], res["iops"]),
                      file=sys.stderr)
    finally:
        if tgt.poll() is None:
            tgt.send_signal(signal.SIGTERM)
            try:
                tgt.wait(15)
            except subprocess.TimeoutExpired:
                tgt.kill()
                tgt.wait()

    hdr = "%-20s %12s %10s %10s %10s %12s %12s  %s" % (
        "case", "IOPS", "MiB/s", "avg us", "p99 us", "tgt us/IO", "init us/IO",
        "SPDK reference")
    print("NVMe/TCP over 127.0.0.1: nvmf_tgt core 0, nvme_perf core 1, malloc %d MiB 4 KiB "
          "blocks; median of %d x %d s" % (args.malloc_mb, args.runs, args.time))
    print(hdr)
    print("-" * len(hdr))
    lines = []
    for c in cases:
        s = samples[c[0]]
        med = {k: statistics.median(x[k] for x in s) for k in s[0]}
        print("%-20s %12.0f %10.1f %10.1f %10.1f %12.2f %12.2f  %s" % (
            c[0], med["iops"], med["mibps"], med["avg_us"], med["p99_us"],
            med["tgt_cpu_us_per_io"], med["init_cpu_us_per_io"], c[4]))
        row = {"bench": "nvmf_tcp", "case": c[0], "pattern": c[1], "io_size": c[2],
               "queue_depth": c[3], "runs": args.runs, "seconds": args.time}
        row.update({k: round(v, 3) for k, v in med.items()})
        if c[4]:
            row["reference"] = "SPDK nvmf_tgt NVMe/TCP: 250-425k IOPS per target core"
        lines.append(json.dumps(row))
    for l in lines:
        print(l)
    if args.json:
        with open(args.json, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

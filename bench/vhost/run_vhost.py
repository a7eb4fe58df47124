#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""vhost-user-blk benchmark: Osprey's vhost target against qemu-storage-daemon,
both serving a null block device, driven by Osprey's bdevperf through its
vhost-user front end (bdev_virtio). See run_vhost.sh for usage.

- Osprey: build/bin/vhost -m 0x1, bdev_null_create Null0 (SIZE MiB, 512-byte
  blocks), vhost_create_blk_controller vb0 Null0.
- qemu-storage-daemon under taskset -c 0: --blockdev driver=null-co (reads do
  not touch the buffers: read-zeroes off, QEMU's default) exported as
  vhost-user-blk (1 queue, writable), in its main loop (--qsd-iothread: in an
  iothread instead).
- bdevperf -m 0x2 (core 1) with bdev_virtio_attach_controller -t user -d blk
  (1 queue of 512) in its JSON config; -q QD -o SIZE -w randread -t SECONDS.

Both targets run for the whole benchmark (the one not measured is idle: no front
end connected, it sleeps). Each round runs bdevperf against each target, the order
alternating by round so that a noisy minute of this shared machine hurts both
alike. Per target: median and [min-max] over the rounds of IOPS, average latency
(bdevperf's), the target's CPU time per I/O (utime+stime of /proc/PID/stat, all its
threads, over the bdevperf run, divided by the I/Os bdevperf completed) and the
share of a core the target used; bdevperf's own CPU per I/O; the ratio
Osprey/qemu-storage-daemon. A table, then one JSON line per result (also appended
to -j FILE), and the machine's load average at start and end.
It stops only the processes it started (by PID).
"""

import argparse
import json
import os
import re
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
QSD = os.environ.get("QSD", "qemu-storage-daemon")
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_IOPS = 2.9e6   # SPDK v25.09's vhost on this machine kind (issue 9)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime


def run_delay_ns(pid):
    """Time the target's threads spent runnable but not running (schedstat field 2, summed
    over threads): what other processes on this shared machine took from it."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    except OSError:
        pass
    return total


def rpc(sock, *args):
    r = subprocess.run([sys.executable, RPC, "-s", sock, *args], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def wait_socket(path, p, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    p.logfile.seek(0)
    raise RuntimeError("%s did not come up:\n%s" % (what, p.logfile.read()[-2000:]))


def start_osprey(tmp, size_mb):
    sock = os.path.join(tmp, "vhost_rpc.sock")
    log = open(os.path.join(tmp, "vhost.log"), "w+")
    p = subprocess.Popen([os.path.join(BIN, "vhost"), "-m", "0x1", "-r", sock, "-S", tmp],
                         stdout=log, stderr=subprocess.STDOUT)
    p.logfile = log
    wait_socket(sock, p, "vhost")
    rpc(sock, "framework_wait_init")
    rpc(sock, "bdev_null_create", "Null0", str(size_mb), "512")
    rpc(sock, "vhost_create_blk_controller", "vb0", "Null0")
    return p, os.path.join(tmp, "vb0")


def start_qsd(tmp, size_mb, iothread):
    sock = os.path.join(tmp, "qsd.sock")
    log = open(os.path.join(tmp, "qsd.log"), "w+")
    cmd = ["taskset", "-c", "0", QSD,
           "--blockdev", "driver=null-co,node-name=null0,size=%d" % (size_mb << 20)]
    exp = "type=vhost-user-blk,id=exp0,node-name=null0,addr.type=unix,addr.path=%s," \
          "writable=on,num-queues=1" % sock
    if iothread:
        cmd += ["--object", "iothread,id=io0"]
        exp += ",iothread=io0"
    cmd += ["--export", exp]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    p.logfile = log
    wait_socket(sock, p, "qemu-storage-daemon")
    return p, sock


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


TOTAL = re.compile(r"^\s*Total\s*:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")
JOB = re.compile(r"^\s*VirtioBlk0\s*:\s*([\d.]+)\s+([\d.]+)")


def run_bdevperf(tmp, tgt, sock, args):
    cfg = os.path.join(tmp, "bdevperf.json")
    with open(cfg, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_virtio_attach_controller",
             "params": {"name": "VirtioBlk0", "trtype": "user", "traddr": sock, "dev_type": "blk",
                        "vq_count": 1, "vq_size": args.vq_size}}]}]}, f)
    cmd = [os.path.join(BIN, "bdevperf"), "--json", cfg, "-m", "0x2", "-r",
           os.path.join(tmp, "bdevperf.sock"), "-q", str(args.qd), "-o", str(args.io_size),
           "-w", "randread", "-t", str(args.time)]
    t0 = cpu_ticks(tgt.pid)
    w0 = run_delay_ns(tgt.pid)
    c0 = os.times()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.time + 90)
    t1 = cpu_ticks(tgt.pid)
    w1 = run_delay_ns(tgt.pid)
    c1 = os.times()
    out = r.stdout + r.stderr
    tot = job = None
    for line in out.splitlines():
        m = TOTAL.match(line)
        if m:
            tot = [float(x) for x in m.groups()]
        m = JOB.match(line)
        if m:
            job = [float(x) for x in m.groups()]
    if r.returncode != 0 or not tot or not job:
        raise RuntimeError("bdevperf failed (%d):\n%s" % (r.returncode, out[-2000:]))
    runtime, iops = job[0], tot[0]
    ios = max(iops * runtime, 1.0)
    tgt_cpu = (t1 - t0) / CLK_TCK
    init_cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
    return {"iops": iops, "mibps": tot[1], "fail_s": tot[2], "avg_us": tot[4], "max_us": tot[6],
            "tgt_cpu_us_per_io": tgt_cpu * 1e6 / ios, "tgt_core_pct": 100.0 * tgt_cpu / runtime,
            "tgt_wait_pct": 100.0 * (w1 - w0) / 1e9 / runtime,
            "bdevperf_cpu_us_per_io": init_cpu * 1e6 / ios}


def main():
    ap = argparse.ArgumentParser(description="vhost-user-blk: Osprey vhost vs qemu-storage-daemon")
    ap.add_argument("-n", "--rounds", type=int, default=5)
    ap.add_argument("-t", "--time", type=int, default=10, help="seconds per bdevperf run")
    ap.add_argument("-q", "--qd", type=int, default=64)
    ap.add_argument("-o", "--io-size", type=int, default=4096)
    ap.add_argument("--vq-size", type=int, default=512)
    ap.add_argument("-s", "--size-mb", type=int, default=1024, help="null device size")
    ap.add_argument("-j", "--json", help="append the JSON lines to this file")
    ap.add_argument("--no-qsd", action="store_true", help="Osprey only")
    ap.add_argument("--qsd-iothread", action="store_true", help="qemu-storage-daemon export in an iothread")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.time = 1, 2
    for b in ("vhost", "bdevperf"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            print("run_vhost: %s/%s missing: build first (make)" % (BIN, b), file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("run_vhost: needs 2 cores (target on core 0, bdevperf on core 1)", file=sys.stderr)
        return 1
    load0 = os.getloadavg()
    tmp = tempfile.mkdtemp(prefix="osp_bench_vhost_")
    targets = {}
    try:
        targets["osprey"] = start_osprey(tmp, args.size_mb)
        if not args.no_qsd:
            targets["qsd"] = start_qsd(tmp, args.size_mb, args.qsd_iothread)
        names = list(targets)
        samples = {n: [] for n in names}
        for i in range(args.rounds):
            order = names if i % 2 == 0 else names[::-1]
            for n in order:
                p, sock = targets[n]
                res = run_bdevperf(tmp, p, sock, args)
                samples[n].append(res)
                print("  round %d/%d %-7s %10.0f IOPS %8.1f us  target %.2f us/IO (%.0f%% of a core, "
                      "%.0f%% waiting for one)" % (
                          i + 1, args.rounds, n, res["iops"], res["avg_us"], res["tgt_cpu_us_per_io"],
                          res["tgt_core_pct"], res["tgt_wait_pct"]), file=sys.stderr)
    finally:
        for p, _ in targets.values():
            stop(p)
    load1 = os.getloadavg()

    label = {"osprey": "Osprey vhost", "qsd": "qemu-storage-daemon" + (" (iothread)" if args.qsd_iothread else "")}
    print("vhost-user-blk, 4 KiB randread qd %d: target on core 0 (null device %d MiB), bdevperf "
          "(bdev_virtio, 1 queue of %d) on core 1; median [min-max] of %d x %d s" % (
              args.qd, args.size_mb, args.vq_size, args.rounds, args.time))
    hdr = "%-32s %26s %22s %22s %12s %12s %15s" % ("target", "IOPS", "avg us", "target us/IO",
                                                   "target core", "target wait", "bdevperf us/IO")
    print(hdr)
    print("-" * len(hdr))
    lines = []
    med = {}
    for n in samples:
        s = samples[n]
        m = {k: statistics.median(x[k] for x in s) for k in s[0]}
        lo = {k: min(x[k] for x in s) for k in s[0]}
        hi = {k: max(x[k] for x in s) for k in s[0]}
        med[n] = m
        print("%-32s %10.0f [%6.0fk-%6.0fk] %8.1f [%5.1f-%5.1f] %8.3f [%.3f-%.3f] %11.0f%% %11.0f%% %15.3f" % (
            label[n], m["iops"], lo["iops"] / 1e3, hi["iops"] / 1e3, m["avg_us"], lo["avg_us"],
            hi["avg_us"], m["tgt_cpu_us_per_io"], lo["tgt_cpu_us_per_io"], hi["tgt_cpu_us_per_io"],
            m["tgt_core_pct"], m["tgt_wait_pct"], m["bdevperf_cpu_us_per_io"]))
        row = {"bench": "vhost_blk", "target": n, "workload": "randread", "io_size": args.io_size,
               "queue_depth": args.qd, "rounds": args.rounds, "seconds": args.time, "stat": "median"}
        row.update({k: round(v, 3) for k, v in m.items()})
        row.update({"min_iops": round(lo["iops"]), "max_iops": round(hi["iops"])})
        lines.append(json.dumps(row))
    if "qsd" in med and med["qsd"]["iops"] > 0:
        ratio = med["osprey"]["iops"] / med["qsd"]["iops"]
        cpu_ratio = med["qsd"]["tgt_cpu_us_per_io"] / max(med["osprey"]["tgt_cpu_us_per_io"], 1e-9)
        print("Osprey / qemu-storage-daemon: %.2fx the IOPS (goal: >= 2x); target CPU per I/O "
              "qemu-storage-daemon / Osprey: %.2fx" % (ratio, cpu_ratio))
        lines.append(json.dumps({"bench": "vhost_blk", "metric": "iops_ratio_osprey_qsd",
                                 "value": round(ratio, 3)}))
    print("Osprey median %.2f M IOPS (goal: >= %.1f M, SPDK v25.09's vhost on this machine kind)" % (
        med["osprey"]["iops"] / 1e6, GOAL_IOPS / 1e6))
    print("load average: %.2f at start, %.2f at end (others' processes on this shared machine "
          "lower every figure)" % (load0[0], load1[0]))
    lines.append(json.dumps({"bench": "vhost_blk", "metric": "loadavg", "start": load0[0], "end": load1[0]}))
    for line in lines:
        print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

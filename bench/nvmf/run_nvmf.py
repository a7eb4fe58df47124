#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""NVMe/TCP benchmark: nvmf_tgt on core 0 serving a malloc namespace (4 KiB
blocks), nvme_perf on core 1, over 127.0.0.1. See run_nvmf.sh for usage.

For each case, RUNS rounds of SECONDS each (interleaved: case A round 1, case
B round 1, ..., so that noise from the machine hits every case alike). With
--compare OTHER_BIN_DIR, a second build (say, main before a change) runs too:
both targets stay up for the whole benchmark (on core 0, separate ports; the
one not measured sleeps), and each round measures both builds back to back,
in alternating order (A B, then B A, ...).

Per run it records nvme_perf's IOPS, MiB/s, average and p99 latency, and for
each side the CPU it used per I/O, from `perf stat -p` on nvmf_tgt over the
run and `perf stat` around nvme_perf:
- cycles per I/O: the cycles event where the CPU exposes counters; in VMs
  without them (as here) task-clock times the CPU's nominal clock
  (/proc/cpuinfo "cpu MHz"), marked "~cycles";
- system calls per I/O (raw_syscalls:sys_enter): the kernel work that
  callgrind (bench/nvmf/profile_nvmf.py) does not see.
nvme_perf's figures include its start-up and connect (a few ms) and its admin
thread. Reports the median and the range (min-max) over the rounds; a table,
then one JSON line per case and build (also appended to -j FILE).

--zcopy-compare BYTES runs this build twice instead (B with sock_impl_set_options
--enable-zerocopy-send-server --zerocopy-threshold BYTES) and reports B's
MSG_ZEROCOPY sends per I/O and how many of them the kernel copied anyway
(nvmf_get_stats: zcopy_sends, zcopy_copied).

Without perf (or with --no-perf-stat), CPU time per I/O comes from
/proc/PID/stat (target) and the child's rusage (initiator) as before.

No NVMe/TCP-capable peer runs on this machine (no nvmet-tcp on the host, the
kernel target exists only in a QEMU guest, not comparable; Debian's fio has
no NVMe/TCP engine; SPDK is not installed), so the peer column is SPDK's
published figure: 250-425 k IOPS per target core for 4 KiB random reads at
queue depth 32 (nvmf_tgt, NVMe/TCP, one core).
"""

import argparse
import json
import os
import shutil
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


CLK_TCK = os.sysconf("SC_CLK_TCK")
SPDK_REF = "250-425k IOPS/core"

# The workloads of issue 12 first; --all adds the others.
CASES = [
    # name, pattern, io size, queue depth, reference, in the default set
    ("4k randread qd32", "randread", 4096, 32, SPDK_REF, True),
    ("4k randwrite qd32", "randwrite", 4096, 32, "", True),
    ("4k randread qd128", "randread", 4096, 128, "", True),
    ("128k read qd16", "read", 131072, 16, "", True),
    ("4k randread qd1", "randread", 4096, 1, "", False),
    ("4k randwrite qd1", "randwrite", 4096, 1, "", False),
    ("4k randwrite qd128", "randwrite", 4096, 128, "", False),
    ("128k read qd32", "read", 131072, 32, "", False),
]


def cpu_mhz():
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("cpu MHz"):
                    return float(l.split(":")[1])
    except OSError:
        pass
    return None


def perf_events():
    """The perf stat events usable here, and whether real cycles are among them."""
    if shutil.which("perf") is None:
        return None, False
    r = subprocess.run(["perf", "stat", "-x", ",", "-e",
                        "task-clock,cycles,raw_syscalls:sys_enter", "true"],
                       capture_output=True, text=True)
    ok = {}
    for l in r.stderr.splitlines():
        p = l.split(",")
        if len(p) > 3:
            ok[p[2]] = not p[0].startswith("<")
    if not ok.get("task-clock"):
        return None, False
    ev = ["task-clock"] + [e for e in ("cycles", "raw_syscalls:sys_enter") if ok.get(e)]
    return ev, bool(ok.get("cycles"))


def read_perf_stat(path):
    vals = {}
    with open(path) as f:
        for l in f:
            p = l.strip().split(",")
            if len(p) > 3 and p[0] and p[0][0].isdigit():
                vals[p[2]] = float(p[0])
    return vals


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


class Target:
    def __init__(self, label, bin_dir, tmp, mem_mb, extra, zcopy=None):
        self.label = label
        self.bin = bin_dir
        self.port = str(os.environ.get("NVMF_BENCH_PORT") if label == "A" and
                        os.environ.get("NVMF_BENCH_PORT") else free_port())
        d = os.path.join(tmp, label)
        os.makedirs(d)
        self.sock = os.path.join(d, "tgt.sock")
        self.log = open(os.path.join(d, "tgt.log"), "w+")
        self.p = subprocess.Popen([os.path.join(bin_dir, "nvmf_tgt"), "-m", "0x1", "-r",
                                   self.sock, *extra],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline and self.p.poll() is None:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                rpc(self.sock, "framework_wait_init")
                break
            except (OSError, RuntimeError):
                time.sleep(0.1)
        if self.p.poll() is not None:
            self.log.seek(0)
            raise RuntimeError("nvmf_tgt (%s) did not start:\n%s" % (bin_dir, self.log.read()))
        self.zcopy = zcopy
        if zcopy is not None:
            # Sockets accepted from now on send MSG_ZEROCOPY for writes of zcopy bytes or more.
            rpc(self.sock, "sock_impl_set_options", "-i", "posix",
                "--enable-zerocopy-send-server", "--zerocopy-threshold", str(zcopy))
        rpc(self.sock, "nvmf_create_transport", "-t", "tcp")
        rpc(self.sock, "bdev_malloc_create", "-b", "Malloc0", str(mem_mb), "4096")
        rpc(self.sock, "nvmf_create_subsystem", NQN, "-a", "-s", "OSPBENCH1")
        rpc(self.sock, "nvmf_subsystem_add_ns", NQN, "Malloc0")
        rpc(self.sock, "nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1",
            "-s", self.port)

    def zcopy_stats(self):
        """(zero-copy sends, of which copied by the kernel) over the target's life."""
        st = json.loads(rpc(self.sock, "nvmf_get_stats"))
        sends = copied = 0
        for g in st.get("poll_groups", []):
            for t in g.get("transports", []):
                sends += t.get("zcopy_sends", 0)
                copied += t.get("zcopy_copied", 0)
        return sends, copied

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def children_cpu():
    ru = os.times()
    return ru.children_user + ru.children_system


def run_case(tgt, case, secs, events, tmp):
    name, pattern, size, qd = case[:4]
    trid = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:%s" % (tgt.port, NQN)
    cmd = [os.path.join(tgt.bin, "nvme_perf"), "-c", "0x2", "-q", str(qd), "-o", str(size),
           "-w", pattern, "-t", str(secs), "-r", trid, "--json"]
    tstat = ist = None
    if events:
        tstat = os.path.join(tmp, "tgt.stat")
        ist = os.path.join(tmp, "init.stat")
        sp = subprocess.Popen(["perf", "stat", "-x", ",", "-o", tstat, "-e", ",".join(events),
                               "-p", str(tgt.p.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        cmd = ["perf", "stat", "-x", ",", "-o", ist, "-e", ",".join(events), "--"] + cmd
    z0 = tgt.zcopy_stats() if tgt.zcopy is not None else None
    t0 = cpu_ticks(tgt.p.pid)
    c0 = children_cpu()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=secs + 60)
    t1 = cpu_ticks(tgt.p.pid)
    init_cpu = children_cpu() - c0
    if events:
        sp.send_signal(signal.SIGINT)
        sp.wait(30)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, err[-800:]))
    total = [json.loads(l) for l in out.splitlines() if l.startswith("{") and
             '"device":"Total"' in l]
    if not total:
        raise RuntimeError("no Total JSON line from nvme_perf:\n" + out[-800:])
    res = total[0]
    ios = max(res["ios"], 1)
    row = {"iops": res["iops"], "mibps": res["mibps"], "avg_us": res["avg_us"],
           "p99_us": res["p99_us"]}
    if z0 is not None:
        # Give the target a moment to take the closed connection out of its group.
        time.sleep(0.5)
        z1 = tgt.zcopy_stats()
        row["zcopy_sends_per_io"] = (z1[0] - z0[0]) / ios
        row["zcopy_copied_per_io"] = (z1[1] - z0[1]) / ios
    if events:
        mhz = cpu_mhz()
        for side, path in (("tgt", tstat), ("init", ist)):
            v = read_perf_stat(path)
            # perf stat -x reports task-clock in milliseconds.
            row[side + "_cpu_us_per_io"] = v.get("task-clock", 0) * 1e3 / ios
            if "cycles" in v:
                row[side + "_cycles_per_io"] = v["cycles"] / ios
            elif mhz:
                row[side + "_cycles_per_io"] = v.get("task-clock", 0) * 1e3 * mhz / ios
            if "raw_syscalls:sys_enter" in v:
                row[side + "_syscalls_per_io"] = v["raw_syscalls:sys_enter"] / ios
    else:
        row["tgt_cpu_us_per_io"] = (t1 - t0) / CLK_TCK * 1e6 / ios
        row["init_cpu_us_per_io"] = init_cpu * 1e6 / ios
    return row


def main():
    ap = argparse.ArgumentParser(description="NVMe/TCP benchmark (nvmf_tgt + nvme_perf)")
    ap.add_argument("-n", "--runs", type=int, default=3, help="rounds per case (median)")
    ap.add_argument("-t", "--time", type=int, default=10, help="seconds per run")
    ap.add_argument("-j", "--json", help="append the JSON lines to this file")
    ap.add_argument("-m", "--malloc-mb", type=int, default=128, help="namespace size in MiB")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--all", action="store_true",
                    help="also the queue depth 1, 4k randwrite qd128 and 128k qd32 cases")
    ap.add_argument("--polling", action="store_true",
                    help="start nvmf_tgt with --polling (never sleep when idle)")
    ap.add_argument("--compare", metavar="BIN_DIR",
                    help="a second build's bin directory, measured in alternating rounds")
    ap.add_argument("--zcopy-compare", type=int, metavar="THRESHOLD",
                    help="B = this build with zero-copy sends (MSG_ZEROCOPY) for writes of "
                         "THRESHOLD bytes or more; reports how many the kernel copied anyway")
    ap.add_argument("--no-perf-stat", action="store_true",
                    help="CPU time from /proc instead of perf stat")
    args = ap.parse_args()

    if args.compare and args.zcopy_compare is not None:
        ap.error("--compare and --zcopy-compare exclude each other")
    builds = [("A", BIN)] + ([("B", args.compare)] if args.compare else [])
    if args.zcopy_compare is not None:
        builds.append(("B", BIN))
        args.compare = "%s with MSG_ZEROCOPY sends >= %d bytes" % (BIN, args.zcopy_compare)
    for _, d in builds:
        for b in ("nvmf_tgt", "nvme_perf"):
            if not os.access(os.path.join(d, b), os.X_OK):
                print("run_nvmf: %s/%s missing: build first (make)" % (d, b), file=sys.stderr)
                return 1
    if (os.cpu_count() or 1) < 2:
        print("run_nvmf: needs 2 cores (target on core 0, initiator on core 1)", file=sys.stderr)
        return 1
    events, real_cycles = (None, False) if args.no_perf_stat else perf_events()
    cases = [c for c in CASES if (c[5] or args.all) and (not args.only or args.only in c[0])]
    tmp = tempfile.mkdtemp(prefix="osp_bench_nvmf_")
    extra = ["--polling"] if args.polling else []
    tgts = []
    samples = {(b[0], c[0]): [] for b in builds for c in cases}
    try:
        for label, d in builds:
            tgts.append(Target(label, d, tmp, args.malloc_mb, extra,
                               args.zcopy_compare if label == "B" and
                               args.zcopy_compare is not None else None))
        for i in range(args.runs):
            for c in cases:
                order = tgts if i % 2 == 0 else list(reversed(tgts))
                for tgt in order:
                    row = run_case(tgt, c, args.time, events, tmp)
                    samples[(tgt.label, c[0])].append(row)
                    print("  round %d/%d %-20s %s %10.0f IOPS%s" % (
                        i + 1, args.runs, c[0], tgt.label if args.compare else "",
                        row["iops"],
                        "  tgt %.0f init %.0f %scycles/IO" % (
                            row.get("tgt_cycles_per_io", 0), row.get("init_cycles_per_io", 0),
                            "" if real_cycles else "~") if events else ""),
                        file=sys.stderr)
    finally:
        for t in tgts:
            t.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    cyc = "cycles" if real_cycles else "~cycles"
    print("NVMe/TCP over 127.0.0.1: nvmf_tgt core 0, nvme_perf core 1, malloc %d MiB 4 KiB "
          "blocks; median [min-max] of %d rounds x %d s%s" % (
              args.malloc_mb, args.runs, args.time,
              "; A = %s, B = %s, alternating" % (BIN, args.compare) if args.compare else ""))
    if events and not real_cycles:
        print("(no cycle counter here: ~cycles = task-clock x %.0f MHz)" % (cpu_mhz() or 0))

    def fmt(vals, f):
        if not vals:
            return "-"
        return ("%s [%s-%s]" % (f % statistics.median(vals), f % min(vals), f % max(vals))
                if len(vals) > 1 else f % vals[0])

    if events:
        hdr = "%-20s %-2s %26s %26s %26s %14s %14s" % (
            "case", "", "IOPS", "tgt %s/IO" % cyc, "init %s/IO" % cyc, "tgt sysc/IO",
            "init sysc/IO")
    else:
        hdr = "%-20s %-2s %26s %10s %10s %12s %12s" % (
            "case", "", "IOPS", "avg us", "p99 us", "tgt us/IO", "init us/IO")
    print(hdr)
    print("-" * len(hdr))
    lines = []
    for c in cases:
        for label, d in builds:
            s = samples[(label, c[0])]
            keys = s[0].keys()
            col = {k: [x[k] for x in s if k in x] for k in keys}
            if events:
                print("%-20s %-2s %26s %26s %26s %14s %14s" % (
                    c[0], label if args.compare else "", fmt(col["iops"], "%.0f"),
                    fmt(col.get("tgt_cycles_per_io"), "%.0f"),
                    fmt(col.get("init_cycles_per_io"), "%.0f"),
                    fmt(col.get("tgt_syscalls_per_io"), "%.2f"),
                    fmt(col.get("init_syscalls_per_io"), "%.2f")))
            else:
                print("%-20s %-2s %26s %10.1f %10.1f %12.2f %12.2f" % (
                    c[0], label if args.compare else "", fmt(col["iops"], "%.0f"),
                    statistics.median(col["avg_us"]), statistics.median(col["p99_us"]),
                    statistics.median(col["tgt_cpu_us_per_io"]),
                    statistics.median(col["init_cpu_us_per_io"])))
            if "zcopy_sends_per_io" in col:
                print("%-20s %-2s zero-copy sends per I/O %s, copied by the kernel %s" % (
                    "", "", fmt(col["zcopy_sends_per_io"], "%.3f"),
                    fmt(col["zcopy_copied_per_io"], "%.3f")))
            row = {"bench": "nvmf_tcp", "case": c[0], "pattern": c[1], "io_size": c[2],
                   "queue_depth": c[3], "runs": args.runs, "seconds": args.time,
                   "build": d, "cycles_source": "cycles" if real_cycles else
                   ("task-clock x cpu MHz" if events else None)}
            for k, v in col.items():
                row[k] = round(statistics.median(v), 3)
                row[k + "_range"] = [round(min(v), 3), round(max(v), 3)]
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

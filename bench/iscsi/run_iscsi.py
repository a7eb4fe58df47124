#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""iSCSI benchmark: Osprey's iscsi_tgt against Debian's tgtd, side by side in
one run, driven by libiscsi's iscsi-perf. See run_iscsi.sh for usage.

Both targets run for the whole benchmark, both pinned to core 0
(`iscsi_tgt -m 0x1`; tgtd and its I/O threads under `taskset -c 0`), each
serving one LUN of 4 KiB blocks from memory:
  - Osprey: a malloc bdev;
  - tgtd: its default "rdwr" backing store (pread/pwrite from its I/O
    threads) on a file in /dev/shm (tmpfs), filled with data first so that
    every read copies real pages, as malloc does. --tgtd-bs null uses tgtd's
    null backing store instead (it reads nothing: flatters tgtd).
The clients (iscsi-perf, single-threaded) run on core 1 (`taskset -c 1`).

Cases: 4 KiB random read at queue depth 32 and 128 KiB sequential read at
queue depth 32, each with one iscsi-perf and with two at once (two sessions,
each at that depth) to look past the single-threaded client. Every round runs
every case on both targets (the order of the targets alternates from round to
round, so that noise from the machine hits both alike); the figures are the
medians over the rounds, with the range (min-max).

Per case: IOPS (iscsi-perf's "iops average", summed over the clients), MiB/s
(IOPS x I/O size), the target's CPU time per I/O (utime+stime delta of
/proc/PID/stat over the client run, all threads, divided by the I/Os) and the
share of a core that the target and the clients used over the run (client:
the rusage of the reaped iscsi-perf processes). A side at ~100 % of its core
is the limit. For Osprey also "busy us/IO": the reactor's busy time
(framework_get_reactors, TSC ticks of loop iterations that did work) per I/O,
i.e. its CPU time without the idle polling it does while it waits for the
clients (wall-clock ticks: time taken by other processes on core 0 counts),
and its sleeps per 1000 I/Os. For both sides the run-queue wait (schedstat:
time runnable but not running, i.e. taken by other processes on a shared
machine). Before the rounds, one unmeasured sequential pass over each LUN
maps every page of the backing memory. After them, the idle cost of each
target (CPU over IDLE seconds with a session logged in). Prints a table, then
one JSON line per case and target (with every round) and one per case with
the ratios (also appended to -j FILE).

While one target is measured the other is paused (SIGSTOP, then SIGCONT), so
that neither takes core 0 from the other (an iscsi_tgt started with --polling
would spin there). Stops only the processes it started, by PID (tgtd, which
ignores SIGTERM while it has targets, through tgtadm first).
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
sys.path.insert(0, os.path.join(ROOT, "test", "iscsi", "proto"))

CLK_TCK = os.sysconf("SC_CLK_TCK")
BS = 4096
OSP_IQN = "iqn.2016-06.io.spdk:bench1"
TGTD_IQN = "iqn.2026-12.io.osprey.bench:tgtd1"
AVG_RE = re.compile(r"^iops average (\d+) \(", re.M)

CASES = [
    # name, I/O size, queue depth per client, random, clients
    ("4k randread qd32", 4096, 32, True, 1),
    ("128k read qd32", 131072, 32, False, 1),
    ("4k randread qd32 x2", 4096, 32, True, 2),
    ("128k read qd32 x2", 131072, 32, False, 2),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of the whole process (every thread), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def children_cpu():
    t = os.times()
    return t.children_user + t.children_system


def wait_for(fn, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            if fn():
                return True
        except (OSError, RuntimeError):
            pass
        time.sleep(0.1)
    return False


def stop(p, secs=15):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGCONT)   # it may have been paused (SIGSTOP) between runs
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(secs)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Osprey:
    name = "osprey"

    def __init__(self, tmp, port, size_mb, extra=()):
        self.port = port
        self.url = "iscsi://127.0.0.1:%d/%s/0" % (port, OSP_IQN)
        cfg = os.path.join(tmp, "osp.json")
        with open(cfg, "w") as f:
            json.dump({"subsystems": [
                {"subsystem": "bdev", "config": [
                    {"method": "bdev_malloc_create", "params": {
                        "name": "Malloc0", "num_blocks": size_mb * 1048576 // BS,
                        "block_size": BS}}]},
                {"subsystem": "iscsi", "config": [
                    {"method": "iscsi_set_options", "params": {"max_queue_depth": 128}},
                    {"method": "iscsi_create_portal_group", "params": {
                        "tag": 1, "portals": [{"host": "127.0.0.1", "port": str(port)}]}},
                    {"method": "iscsi_create_initiator_group", "params": {
                        "tag": 2, "initiators": ["ANY"], "netmasks": ["127.0.0.1/32"]}},
                    {"method": "iscsi_create_target_node", "params": {
                        "name": OSP_IQN, "alias_name": "bench",
                        "luns": [{"bdev_name": "Malloc0", "lun_id": 0}],
                        "pg_ig_maps": [{"pg_tag": 1, "ig_tag": 2}],
                        "queue_depth": 128, "disable_chap": True}}]}]}, f)
        self.sock = os.path.join(tmp, "osp.sock")
        self.log = open(os.path.join(tmp, "iscsi_tgt.log"), "w+", errors="replace")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "iscsi_tgt"), "-m", "0x1", "-r", self.sock, "--json", cfg,
             *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: self.proc.poll() is None and
                        socket.create_connection(("127.0.0.1", port), 1).close() is None, 30):
            self.log.seek(0)
            raise RuntimeError("iscsi_tgt did not come up:\n" + self.log.read()[-2000:])
        self.pid = self.proc.pid

    def busy_s(self):
        """(Seconds the reactor spent in iterations that did work, times it went to
        sleep) from framework_get_reactors: the busy time is the target's CPU time
        without its idle polling; each sleep costs a wake-up later."""
        r = subprocess.run([sys.executable, RPC, "-s", self.sock, "framework_get_reactors"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("framework_get_reactors: " + r.stdout + r.stderr)
        j = json.loads(r.stdout)
        return (sum(x["busy"] for x in j["reactors"]) / float(j["tick_rate"]),
                sum(x.get("sleep_count", 0) for x in j["reactors"]))


class Tgtd:
    name = "tgtd"

    def __init__(self, tmp, port, size_mb, bstype):
        self.port = port
        self.url = "iscsi://127.0.0.1:%d/%s/1" % (port, TGTD_IQN)   # LUN 0 is its controller
        self.ctl = port   # tgtd's management socket suffix (/var/run/tgtd/socket.N)
        self.img = None
        self.log = open(os.path.join(tmp, "tgtd.log"), "w+", errors="replace")
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", "tgtd", "-f", "-C", str(self.ctl), "--iscsi",
             "portal=127.0.0.1:%d" % port], stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid    # taskset execs tgtd: same PID
        if not wait_for(lambda: self.proc.poll() is None and self.adm(
                "--op", "show", "--mode", "sys") is not None, 15):
            self.log.seek(0)
            raise RuntimeError("tgtd did not come up:\n" + self.log.read()[-2000:])
        self.adm("--op", "new", "--mode", "target", "--tid", "1", "-T", TGTD_IQN)
        if bstype == "null":
            self.adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
                     "--bstype", "null", "-b", "bench_null", "--blocksize", str(BS))
            # the null store's size is fixed by tgtd; the LBAs iscsi-perf picks come
            # from READ CAPACITY, so nothing else to do
        else:
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else tmp
            self.img = os.path.join(shm, "osp_bench_iscsi_%d.img" % os.getpid())
            chunk = (bytes(range(256)) * (1048576 // 256))
            with open(self.img, "wb") as f:
                for _ in range(size_mb):
                    f.write(chunk)
            self.adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
                     "-b", self.img, "--blocksize", str(BS))
        self.adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")

    def adm(self, *args):
        r = subprocess.run(["tgtadm", "-C", str(self.ctl), "--lld", "iscsi", *args],
                           capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise RuntimeError("tgtadm %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def shutdown(self):
        """tgtd 1.0.85 ignores SIGTERM while it has targets: take it offline, delete
        the target and the system (its own way to exit), then signals."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            for args in (("--op", "update", "--mode", "sys", "--name", "State", "-v",
                          "offline"),
                         ("--op", "delete", "--mode", "target", "--tid", "1", "--force")):
                try:
                    self.adm(*args)
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
            subprocess.run(["tgtadm", "-C", str(self.ctl), "--op", "delete", "--mode",
                            "system"], capture_output=True, timeout=20)
        stop(self.proc, 5)

    def cleanup(self):
        if self.img:
            try:
                os.unlink(self.img)
            except OSError:
                pass


def sched_wait_ns(pid, threads=True):
    """Time the threads of pid spent runnable but not running (schedstat field 2),
    in ns: what other processes on the same core took from them."""
    total = 0
    paths = ["/proc/%d/task/%s/schedstat" % (pid, t) for t in os.listdir(
        "/proc/%d/task" % pid)] if threads else ["/proc/%d/schedstat" % pid]
    for path in paths:
        try:
            with open(path) as f:
                total += int(f.read().split()[1])
        except OSError:
            pass
    return total


def run_case(tgt, case, secs):
    """One case against one target: a dict of IOPS, target CPU s, target busy s
    (None for tgtd), target and client run-queue wait s, client CPU s, wall s."""
    name, size, qd, rnd, nclients = case
    procs = []
    b0 = tgt.busy_s() if hasattr(tgt, "busy_s") else None
    c0 = children_cpu()
    t0 = cpu_ticks(tgt.pid)
    q0 = sched_wait_ns(tgt.pid)
    w0 = time.time()
    for i in range(nclients):
        cmd = ["taskset", "-c", "1", "iscsi-perf", "-i",
               "iqn.2026-12.io.osprey.bench:client%d" % i, "-m", str(qd), "-b",
               str(size // BS), "-t", str(secs)]
        if rnd:
            cmd.append("-r")
        cmd.append(tgt.url)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    # The clients' run-queue wait, sampled while they run (gone once reaped);
    # their output (a line a second) fits in the pipe meanwhile.
    cwait = {}
    deadline = time.time() + secs + 60
    while time.time() < deadline and any(p.poll() is None for p in procs):
        for p in procs:
            if p.poll() is None:
                try:
                    cwait[p.pid] = sched_wait_ns(p.pid, threads=False)
                except OSError:
                    pass
        time.sleep(0.2)
    iops = 0
    errors = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            errors.append("timed out")
            continue
        out = out.replace("\r", "\n")
        m = AVG_RE.search(out)
        if p.returncode != 0 or m is None:
            errors.append("exit %d: %s" % (p.returncode, out[-600:]))
        else:
            iops += int(m.group(1))
    wall = time.time() - w0
    t1 = cpu_ticks(tgt.pid)
    q1 = sched_wait_ns(tgt.pid)
    c1 = children_cpu()
    b1 = tgt.busy_s() if b0 is not None else None
    busy = b1[0] - b0[0] if b0 is not None else None
    sleeps = b1[1] - b0[1] if b0 is not None else None
    if errors:
        raise RuntimeError("iscsi-perf against %s (%s): %s" % (tgt.name, name,
                                                             "; ".join(errors)))
    return {"iops": iops, "tgt_cpu": (t1 - t0) / CLK_TCK, "busy": busy, "sleeps": sleeps,
            "tgt_wait": (q1 - q0) / 1e9, "cli_wait": sum(cwait.values()) / 1e9,
            "cli_cpu": c1 - c0, "wall": wall}


def run_ns(pid):
    """CPU time of every thread of pid in ns (schedstat: exact, where /proc/PID/stat
    counts 10 ms ticks)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass    # a thread that just exited
    return total


def idle_cost(tgt, secs):
    """Target CPU over secs with one session logged in and doing nothing, in %
    of a core."""
    import iscsi_wire
    c = iscsi_wire.Conn("127.0.0.1", tgt.port, timeout=5.0)
    try:
        iqn = OSP_IQN if tgt.name == "osprey" else TGTD_IQN
        r = c.login("iqn.2026-12.io.osprey.bench:idle", iqn)
        if not r.ok:
            raise RuntimeError("idle login to %s failed: %r" % (tgt.name, r))
        time.sleep(0.5)
        t0 = run_ns(tgt.pid)
        w0 = time.time()
        time.sleep(secs)
        t1 = run_ns(tgt.pid)
        return 100.0 * (t1 - t0) / 1e9 / (time.time() - w0)
    finally:
        c.close()


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def main():
    ap = argparse.ArgumentParser(description="iSCSI benchmark (iscsi_tgt vs tgtd, iscsi-perf)")
    ap.add_argument("-n", "--runs", type=int, default=5, help="rounds (median and range)")
    ap.add_argument("-t", "--time", type=int, default=10, help="seconds per client run")
    ap.add_argument("-i", "--idle", type=int, default=5, help="seconds of idle measurement "
                    "(0: none)")
    ap.add_argument("-j", "--json", help="append the JSON lines to this file")
    ap.add_argument("-s", "--size-mb", type=int, default=256, help="LUN size in MiB")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--tgtd-bs", choices=("rdwr", "null"), default="rdwr",
                    help="tgtd backing store: rdwr on a tmpfs file (default) or null")
    ap.add_argument("--no-tgtd", action="store_true", help="Osprey only (no ratios)")
    ap.add_argument("--polling", action="store_true",
                    help="start iscsi_tgt with --polling (never sleep when idle)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round of 2 s, 4 KiB case only, 1 s idle")
    ap.add_argument("--port", type=int, default=int(os.environ.get("ISCSI_BENCH_PORT", "0")),
                    help="first of two TCP ports (default: free ones picked at run time)")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.time, args.idle = 1, 2, 1
        args.only = args.only or "4k randread qd32"

    need = [os.path.join(BIN, "iscsi_tgt"), "iscsi-perf", "taskset"]
    if not args.no_tgtd:
        need += ["tgtd", "tgtadm"]
    for b in need:
        if not (os.access(b, os.X_OK) if "/" in b else
                subprocess.run(["sh", "-c", "command -v " + b], capture_output=True)
                .returncode == 0):
            print("run_iscsi: %s missing (build first: make; packages: libiscsi-bin tgt)" % b,
                  file=sys.stderr)
            return 1
    if (os.cpu_count() or 1) < 2:
        print("run_iscsi: needs 2 cores (targets on core 0, clients on core 1)",
              file=sys.stderr)
        return 1

    cases = [c for c in CASES if not args.only or args.only in c[0]]
    if not cases:
        print("run_iscsi: no case matches --only %r (cases: %s)" % (
            args.only, ", ".join(c[0] for c in CASES)), file=sys.stderr)
        return 1
    p0 = args.port or free_port()
    p1 = args.port + 1 if args.port else free_port()
    tmp = tempfile.mkdtemp(prefix="osp_bench_iscsi_")
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[0]
    targets = []
    samples = {}
    idle = {}
    try:
        targets.append(Osprey(tmp, p0, args.size_mb, ["--polling"] if args.polling else []))
        if not args.no_tgtd:
            targets.append(Tgtd(tmp, p1, args.size_mb, args.tgtd_bs))
        for t in targets:
            for c in cases:
                samples[(t.name, c[0])] = []
            # Warm-up, not measured: a sequential pass over the LUN so that every
            # page of the backing memory is mapped (a malloc bdev's pages fault in
            # on first touch: 6 % of the target's time in the first random run).
            run_case(t, ("warm-up", 131072, 32, False, 1), 2 if args.quick else 3)
        for r_ in range(args.runs):
            for c in cases:
                order = targets if r_ % 2 == 0 else targets[::-1]
                for t in order:
                    # The other target is paused meanwhile: it costs nothing then even
                    # when it would spin (iscsi_tgt --polling shares core 0).
                    others = [o for o in targets if o is not t]
                    for o in others:
                        os.kill(o.pid, signal.SIGSTOP)
                    try:
                        r = run_case(t, c, args.time)
                    finally:
                        for o in others:
                            os.kill(o.pid, signal.SIGCONT)
                    iops, wall = r["iops"], r["wall"]
                    ios = max(iops * args.time, 1)
                    samples[(t.name, c[0])].append({
                        "iops": iops, "mibps": iops * c[1] / 1048576.0,
                        "tgt_us_per_io": r["tgt_cpu"] * 1e6 / ios,
                        # NaN for tgtd (no such counter): medians are taken per target
                        "busy_us_per_io": r["busy"] * 1e6 / ios if r["busy"] is not None
                        else float("nan"),
                        "sleeps_per_kio": r["sleeps"] * 1e3 / ios if r["sleeps"] is not None
                        else float("nan"),
                        "tgt_core_pct": 100.0 * r["tgt_cpu"] / wall,
                        "cli_core_pct": 100.0 * r["cli_cpu"] / wall,
                        "tgt_wait_pct": 100.0 * r["tgt_wait"] / wall,
                        "cli_wait_pct": 100.0 * r["cli_wait"] / wall})
                    print("  round %d/%d %-20s %-6s %9d IOPS  tgt %3.0f%% (waited %3.0f%%)  "
                          "clients %3.0f%% (waited %3.0f%%)" % (
                              r_ + 1, args.runs, c[0], t.name, iops,
                              100.0 * r["tgt_cpu"] / wall, 100.0 * r["tgt_wait"] / wall,
                              100.0 * r["cli_cpu"] / wall, 100.0 * r["cli_wait"] / wall),
                          file=sys.stderr)
        if args.idle:
            for t in targets:
                idle[t.name] = idle_cost(t, args.idle)
    finally:
        for t in targets:
            if hasattr(t, "shutdown"):
                t.shutdown()
            else:
                stop(t.proc)
            if hasattr(t, "cleanup"):
                t.cleanup()
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[0]

    print("iSCSI over 127.0.0.1: targets on core 0, iscsi-perf on core 1; Osprey iscsi_tgt%s "
          "(malloc bdev) vs tgtd (%s); LUN %d MiB, 4 KiB blocks; median [min-max] of %d "
          "rounds x %d s; load average %s before, %s after" % (
              " --polling" if args.polling else "",
              "rdwr on a tmpfs file" if args.tgtd_bs == "rdwr" else "null backing store",
              args.size_mb, args.runs, args.time, load_before, load_after))
    hdr = "%-20s %-6s %24s %6s %20s %7s %5s %5s %5s %5s  %s" % (
        "case", "target", "IOPS [range]", "MiB/s", "tgt us/IO [range]", "busy us", "tgt%",
        "wait%", "cli%", "wait%", "IOPS ratio")
    print(hdr)
    print("-" * len(hdr))
    lines = []
    for c in cases:
        meds = {}
        for t in targets:
            s = samples[(t.name, c[0])]
            med = {k: stats([x[k] for x in s]) for k in s[0]}
            meds[t.name] = med
            ratio = ""
            if t.name == "osprey" and "tgtd" in [x.name for x in targets]:
                tg = statistics.median(x["iops"] for x in samples[("tgtd", c[0])])
                ratio = "%.2fx tgtd" % (med["iops"][0] / max(tg, 1))
            busy = med["busy_us_per_io"][0]
            print("%-20s %-6s %24s %6.0f %20s %7s %5.0f %5.0f %5.0f %5.0f  %s" % (
                c[0], t.name, "%.0f [%.0f-%.0f]" % med["iops"], med["mibps"][0],
                "%.2f [%.2f-%.2f]" % med["tgt_us_per_io"],
                "-" if busy != busy else "%.2f" % busy, med["tgt_core_pct"][0],
                med["tgt_wait_pct"][0], med["cli_core_pct"][0], med["cli_wait_pct"][0],
                ratio))
            row = {"bench": "iscsi", "case": c[0], "target": t.name, "io_size": c[1],
                   "queue_depth": c[2], "random": c[3], "clients": c[4], "runs": args.runs,
                   "seconds": args.time,
                   "backing": "malloc bdev" if t.name == "osprey" else
                   ("rdwr tmpfs file" if args.tgtd_bs == "rdwr" else "null")}
            row["polling"] = args.polling if t.name == "osprey" else False
            row["rounds"] = [{k: round(v, 3) for k, v in x.items() if v == v} for x in s]
            for k, (m, lo, hi) in med.items():
                if m != m:
                    continue    # NaN: not measured for this target
                row[k] = round(m, 3)
                row[k + "_min"] = round(lo, 3)
                row[k + "_max"] = round(hi, 3)
            lines.append(row)
        if "osprey" in meds and "tgtd" in meds:
            lines.append({"bench": "iscsi", "case": c[0], "ratio": "osprey/tgtd",
                          "iops_ratio": round(meds["osprey"]["iops"][0] /
                                              max(meds["tgtd"]["iops"][0], 1), 3),
                          "cpu_per_io_ratio": round(
                              meds["osprey"]["tgt_us_per_io"][0] /
                              max(meds["tgtd"]["tgt_us_per_io"][0], 1e-9), 3)})
    if idle:
        print("idle, one session logged in, %d s: %s" % (args.idle, ", ".join(
            "%s %.2f %% of a core" % (k, v) for k, v in idle.items())))
        for k, v in idle.items():
            lines.append({"bench": "iscsi", "case": "idle", "target": k,
                          "seconds": args.idle, "core_pct": round(v, 3)})
    text = [json.dumps(l) for l in lines]
    for l in text:
        print(l)
    if args.json:
        with open(args.json, "a") as f:
            f.write("\n".join(text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

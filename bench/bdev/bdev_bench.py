#!/usr/bin/env python3
"""bdev benchmarks: bdevperf 4 KiB randread at queue depth 128 on one core.

- null and malloc (64 Ki blocks of 4 KiB): IOPS per core.
- aio and uring bdevs against fio with its libaio and io_uring engines, same
  file, same workload, same core, in the same run; ratio Osprey / fio. Two
  files: "prealloc" (fallocated, never written: the kernel answers reads
  without touching the disk, so this prices the software stacks) and
  "written" (every block written first: reads reach the virtual disk).
- the cost of the bdev layer: bdevperf on a null bdev against null_direct, a
  loop that drives the null module without the layer.

Each figure is the median of RUNS runs (the cases take turns in each round). Prints a table, then one JSON line per
result. Run through bench/bdev/run_bdev.sh, which builds what is needed.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
BDEVPERF = os.path.join(BIN, "bdevperf")
NULL_DIRECT = os.environ.get("NULL_DIRECT", os.path.join(ROOT, "build", "bench", "null_direct"))
T = int(os.environ.get("T", "5"))
RUNS = int(os.environ.get("RUNS", "3"))
QD = 128
IO = 4096
CORE = 0
FILE_SIZE = int(os.environ.get("FILE_SIZE_MB", "1024")) << 20
TOTAL_RE = re.compile(r"^ Total\s+:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                      re.M)

results = []


def config(work, name, calls):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": m, "params": p} for m, p in calls]}]}, f)
    return path


def bdevperf_iops(cfg, mem_mb=0):
    cmd = [BDEVPERF, "--json", cfg, "-q", str(QD), "-o", str(IO), "-w", "randread",
           "-t", str(T), "-m", hex(1 << CORE)]
    if mem_mb:
        cmd += ["-s", str(mem_mb)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=T + 120)
    m = TOTAL_RE.search(r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError("bdevperf failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    return float(m.group(1)), float(m.group(5))


# fio's defaults submit and reap one I/O per system call; "batch" lets it submit up to
# 32 and reap up to QD at once, as bdevperf's modules do (one io_submit / io_uring_submit
# per poller pass). Both keep per-I/O latency accounting, as bdevperf does.
FIO_BATCH = ["--iodepth_batch_submit=32", "--iodepth_batch_complete_min=1",
             "--iodepth_batch_complete_max=%d" % QD]


def fio_iops(engine, path, extra=()):
    cmd = ["fio", "--name=bench", "--filename=" + path, "--ioengine=" + engine, "--direct=1",
           "--rw=randread", "--bs=%d" % IO, "--iodepth=%d" % QD, "--runtime=%d" % T,
           "--time_based", "--numjobs=1", "--cpus_allowed=%d" % CORE, "--norandommap",
           "--randrepeat=0", "--group_reporting", "--output-format=json", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=T + 120)
    if r.returncode != 0:
        raise RuntimeError("fio failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    job = json.loads(r.stdout[r.stdout.index("{"):])["jobs"][0]["read"]
    return float(job["iops"]), float(job["lat_ns"]["mean"]) / 1000.0


def null_direct_iops():
    r = subprocess.run([NULL_DIRECT, "-t", str(T), "-q", str(QD), "-o", str(IO)],
                       capture_output=True, text=True, timeout=T + 60)
    m = re.search(r"null_direct: ([\d.]+) IOPS", r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError("null_direct failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    return float(m.group(1)), 0.0


def measure_all(items):
    """Run every (case, tool, fn) once per round, RUNS rounds: interleaving spreads the
    machine's noise over all of them instead of penalizing whichever ran at a bad time."""
    res = [{"case": c, "tool": t, "runs": [], "lats": []} for c, t, _ in items]
    for rnd in range(RUNS):
        for (case, tool, fn), r in zip(items, res):
            if "error" in r:
                continue
            try:
                iops, lat = fn()
            except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError,
                    KeyError) as e:
                msg = str(e).strip()
                print("  %s / %s: FAILED: %s" % (case, tool, msg.splitlines()[-1] if msg else e),
                      file=sys.stderr)
                r["error"] = msg[-400:]
                continue
            r["runs"].append(iops)
            r["lats"].append(lat)
            print("  round %d  %-16s %-20s %14.0f IOPS" % (rnd + 1, case, tool, iops), flush=True)
    for r in res:
        lats = r.pop("lats")
        if "error" not in r:
            r["iops_median"] = statistics.median(r["runs"])
            r["avg_lat_us_median"] = statistics.median(lats)
        results.append(r)
    return res


def ratio(a, b):
    if "iops_median" in a and "iops_median" in b and b["iops_median"] > 0:
        return a["iops_median"] / b["iops_median"]
    return None


def main():
    have_fio = shutil.which("fio") is not None
    work = tempfile.mkdtemp(prefix="osp_bench_bdev_", dir="/var/tmp")
    common = {"bench": "bdev", "workload": "randread", "io_size": IO, "queue_depth": QD,
              "cores": 1, "time_s": T, "rounds": RUNS}
    try:
        print("bdev bench: 4 KiB randread, qd %d, core %d, %d s x %d runs (median)"
              % (QD, CORE, T, RUNS), flush=True)
        null_cfg = config(work, "null", [("bdev_null_create", {
            "name": "Null0", "num_blocks": 262144, "block_size": 4096})])
        malloc_cfg = config(work, "malloc", [("bdev_malloc_create", {
            "name": "Malloc0", "num_blocks": 65536, "block_size": 4096})])
        files = {"prealloc": os.path.join(work, "prealloc.img"),
                 "written": os.path.join(work, "written.img")}
        with open(files["prealloc"], "wb") as f:
            os.posix_fallocate(f.fileno(), 0, FILE_SIZE)
        subprocess.run(["dd", "if=/dev/zero", "of=" + files["written"], "bs=1M",
                        "count=%d" % (FILE_SIZE >> 20), "oflag=direct", "status=none"],
                       check=True)
        items = [("null", "bdevperf", lambda: bdevperf_iops(null_cfg))]
        if os.path.exists(NULL_DIRECT):
            items.append(("null", "null_direct", null_direct_iops))
        items.append(("malloc", "bdevperf", lambda: bdevperf_iops(malloc_cfg, mem_mb=1024)))
        for kind, path in files.items():
            for name, method, engine in (("aio-" + kind, "bdev_aio_create", "libaio"),
                                         ("uring-" + kind, "bdev_uring_create", "io_uring")):
                cfg = config(work, name, [(method, {"name": "File0", "filename": path,
                                                    "block_size": 4096})])
                items.append((name, "bdevperf", lambda c=cfg: bdevperf_iops(c)))
                if have_fio:
                    items.append((name, "fio-" + engine,
                                  lambda p=path, e=engine: fio_iops(e, p)))
                    items.append((name, "fio-%s-batch" % engine,
                                  lambda p=path, e=engine: fio_iops(e, p, FIO_BATCH)))
        res = measure_all(items)
        by = {(r["case"], r["tool"]): r for r in res}
        null = by[("null", "bdevperf")]
        direct = by.get(("null", "null_direct"))
        malloc = by[("malloc", "bdevperf")]
        pairs = []
        for kind in files:
            for name, engine in (("aio-" + kind, "libaio"), ("uring-" + kind, "io_uring")):
                pairs.append((name, by[(name, "bdevperf")], by.get((name, "fio-" + engine), {}),
                              by.get((name, "fio-%s-batch" % engine), {})))

        print()
        print("%-16s %13s %13s %13s %9s %9s" % ("case", "Osprey IOPS", "fio default",
                                                 "fio batch", "ratio/def", "ratio/bat"))

        def fmt(res):
            return "%.0f" % res["iops_median"] if "iops_median" in res else "-"

        for name, res in (("null", null), ("malloc", malloc)):
            print("%-16s %13s %13s %13s %9s %9s" % (name, fmt(res), "-", "-", "-", "-"))
        for name, o, fd, fb in pairs:
            rd, rb = ratio(o, fd), ratio(o, fb)
            print("%-16s %13s %13s %13s %9s %9s" % (
                name, fmt(o), fmt(fd), fmt(fb), "%.2f" % rd if rd else "-",
                "%.2f" % rb if rb else "-"))
            if rd is not None:
                o["ratio_vs_fio_default"] = rd
            if rb is not None:
                o["ratio_vs_fio_batch"] = rb
        if direct is not None and "iops_median" in direct and "iops_median" in null:
            ns_layer = 1e9 / null["iops_median"]
            ns_direct = 1e9 / direct["iops_median"]
            print("%-16s %13.0f" % ("null, no layer", direct["iops_median"]))
            print("bdev layer + bdevperf cost: %.1f ns/IO (%.1f ns/IO through the layer, %.1f "
                  "ns/IO module alone)" % (ns_layer - ns_direct, ns_layer, ns_direct))
            null["layer_ns_per_io"] = ns_layer - ns_direct
            null["direct_iops_median"] = direct["iops_median"]
        print()
        for res in results:
            line = dict(common)
            line.update(res)
            print(json.dumps(line))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

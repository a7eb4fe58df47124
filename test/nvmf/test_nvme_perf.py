#!/usr/bin/env python3
"""End-to-end test of build/bin/nvme_perf against build/bin/nvmf_tgt over
NVMe/TCP on 127.0.0.1 (ports picked free at run time).

Covers: verify runs (pattern from seed + LBA, read back and checked) with and
without header/data digests, several qpairs (-P 2), 4 KiB and 128 KiB, mixed
and pure workloads; the Total line parses and IOPS > 0; -L percentiles and
--json lines; a verify that must fail (reading data written with another
seed) does fail; bad transport IDs and refused connections end with an
error, fast; an initiator killed with SIGKILL mid-I/O leaves no qpair behind
on the target and the next run works; namespaces removed and added while
nvme_perf runs (the removed one is reported and no longer used, the run
succeeds); the target killed mid-run (nvme_perf reports the failed I/O and
exits 1 at once). Prints "N passed, N failed" last, exits non-zero on failure.
Only processes it started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the binaries to test.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import osp_e2e  # noqa: E402
from osp_e2e import *  # noqa: E402,F401,F403

osp_e2e.TGT = os.path.join(osp_e2e.BIN_DIR, "nvmf_tgt")
PERF = os.path.join(osp_e2e.BIN_DIR, "nvme_perf")
NQN = "nqn.2016-06.io.spdk:cnode1"
PORT, DEAD_PORT = (str(p) for p in free_ports(2))   # DEAD_PORT: nothing listens there
NQN2 = "nqn.2016-06.io.spdk:cnode2"
TRID = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:%s" % (PORT, NQN)
TRID2 = "trtype:TCP traddr:127.0.0.1 trsvcid:%s subnqn:%s" % (PORT, NQN2)
TOTAL_RE = re.compile(r"^Total\s+:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$",
                      re.M)
# One worker on the second core when there is one (the target polls core 0).
CORES = "0x2" if (os.cpu_count() or 1) >= 2 else "0x1"


def perf(*args, timeout=60):
    cmd = [PERF, "-c", CORES, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=min(timeout, time_left()))
    r.cmd = " ".join(cmd)
    return r


def total(r):
    m = TOTAL_RE.search(r.stdout)
    return [float(x) for x in m.groups()] if m else None


def check_run(what, r, nsids=1):
    t = total(r)
    ok = check(r.returncode == 0, what + ": exit 0")
    ok &= check(t is not None and t[0] > 0 and t[1] > 0, what + ": Total line with IOPS > 0 (%s)"
                % (t,))
    ok &= check(len(re.findall(r"^TCP \(addr:127\.0\.0\.1 subnqn:nqn[^ ]*\) NSID \d+ from core +\d+:",
                               r.stdout, re.M)) == nsids,
                what + ": one line per namespace")
    if "-V" in r.cmd:
        ok &= check(" 0 miscompares" in r.stdout, what + ": verify reports 0 miscompares")
    if not ok:
        print("    %s\n    stdout: %s\n    stderr: %s" % (r.cmd, r.stdout[-1500:], r.stderr[-1500:]))
    return ok


def qpairs():
    return rpc_json("nvmf_subsystem_get_qpairs", NQN)


def setup(p, transport_args=()):
    print("target set-up")
    ok = rpc_ok("nvmf_create_transport", "-t", "tcp", *transport_args)
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc0", "64", "4096") == "Malloc0"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc1", "32", "512") == "Malloc1"
    ok &= rpc_ok("nvmf_create_subsystem", NQN, "-a", "-s", "OSP0001")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc0")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc1")
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1", "-s", PORT)
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc4", "16", "4096") == "Malloc4"
    ok &= rpc_ok("nvmf_create_subsystem", NQN2, "-a", "-s", "OSP0002")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN2, "Malloc4")
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN2, "-t", "tcp", "-a", "127.0.0.1", "-s", PORT)
    check(ok, "nvmf_tgt: TCP transport, %s with 2 malloc namespaces, %s with 1, port %s"
          % (NQN, NQN2, PORT))
    return ok


def test_verify(p):
    print("verify runs")
    runs = [
        ("4 KiB randrw -M 70 verify, -P 2", ["-q", "32", "-o", "4096", "-w", "randrw", "-M", "70",
                                              "-P", "2"]),
        ("128 KiB randwrite verify, header+data digest", ["-q", "8", "-o", "131072", "-w",
                                                          "randwrite", "-H", "-I"]),
        ("4 KiB randread verify, digests, -P 2", ["-q", "16", "-o", "4096", "-w", "randread",
                                                  "-H", "-I", "-P", "2"]),
        ("128 KiB rw verify, -P 2", ["-q", "4", "-o", "131072", "-w", "rw", "-P", "2"]),
        ("4 KiB write verify, data digest, -k 5000", ["-q", "32", "-o", "4096", "-w", "write",
                                                      "-I", "-k", "5000"]),
        ("4 KiB randrw verify, SQ flow control disabled (reads end with C2HData SUCCESS)",
         ["-q", "32", "-o", "4096", "-w", "randrw", "--disable-sq-fc"]),
    ]
    for what, args in runs:
        check_run(what, perf(*args, "-V", "-t", "2", "-r", TRID), nsids=2)
    r = perf("-q", "16", "-o", "8192", "-w", "randrw", "-V", "-t", "2", "-r", TRID, "-r", TRID2)
    check_run("two controllers (-r twice), 8 KiB randrw verify", r, nsids=3)
    check(("subnqn:%s) NSID 1" % NQN2) in r.stdout, "the second controller's namespace is listed")


def test_output(p):
    print("-L percentiles and --json")
    r = perf("-q", "32", "-o", "4096", "-w", "randread", "-t", "2", "-L", "--json", "-r", TRID)
    check_run("randread -L --json", r, nsids=2)
    check(r.stdout.count("Summary latency data for") == 2 and "99.99000% :" in r.stdout,
          "-L prints the percentile summary per namespace")
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    tot = [l for l in lines if l.get("device") == "Total"]
    check(len(lines) == 3 and len(tot) == 1 and tot[0]["iops"] > 0 and
          tot[0]["p99_us"] >= tot[0]["p50_us"] > 0,
          "--json: a line per namespace and a Total line with iops, p50, p99 (%s)" % tot)
    # Latencies are TSC ticks converted with the rate measured over the run:
    # Little's law (32 always in flight per namespace) checks the conversion.
    ns_lines = [l for l in lines if l.get("device") != "Total"]
    little = [l["iops"] * l["avg_us"] / 1e6 for l in ns_lines]
    check(len(little) == 2 and all(25.6 <= x <= 38.4 for x in little) and
          all(l["min_us"] <= l["p50_us"] <= l["max_us"] * 1.05 for l in ns_lines),
          "average latency x IOPS = the queue depth 32 (Little's law) within 20 %%, min <= p50 <= "
          "max (%s)" % ["%.1f" % x for x in little])
    r = perf("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-LL", "-r", TRID)
    check_run("randread -LL", r, nsids=2)
    check(r.stdout.count("Summary latency data for") == 2 and
          r.stdout.count("Latency histogram for") == 2 and "Range in us" in r.stdout and
          re.search(r"^ *[\d.]+ - +[\d.]+: +100\.0000%  \( *\d+\)$", r.stdout, re.M),
          "-LL adds the histogram's buckets per namespace, up to 100 %")


def test_verify_can_fail(p):
    print("verify detects wrong data")
    # The prefill of a verify run writes the whole verify region of both
    # namespaces before the timed part (a timed sequential write covered it
    # only when the machine was fast enough: a flake under load).
    r = perf("-q", "16", "-o", "131072", "-w", "read", "-t", "1", "-V", "--seed", "7",
             "-r", TRID)
    check_run("verify read with --seed 7: its prefill covers both namespaces", r, nsids=2)
    r = perf("-q", "16", "-o", "4096", "-w", "randread", "-t", "1", "-V", "--seed", "7",
             "--no-prefill", "-r", TRID)
    check_run("randread --seed 7 --no-prefill finds the data", r, nsids=2)
    r = perf("-q", "16", "-o", "4096", "-w", "randread", "-t", "1", "-V", "--seed", "8",
             "--no-prefill", "-r", TRID)
    check(r.returncode != 0 and "MISCOMPARE" in r.stderr,
          "randread --seed 8 --no-prefill: miscompares reported, exit non-zero (%d)"
          % r.returncode)
    check(re.search(r"MISCOMPARE at LBA (\d+): expected lba \1 seed 0x8 gen 0, got lba \1 "
                    r"seed 0x7 gen 0; first bad byte 8 of the block", r.stderr) is not None,
          "the miscompare names the LBA and the seed the data was written with (%s)"
          % r.stderr.strip().splitlines()[:1])


def test_bad_input(p):
    print("bad input")
    t0 = time.time()
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
             "trtype:TCP traddr:127.0.0.1 trsvcid:" + DEAD_PORT + " subnqn:" + NQN, timeout=30)
    check(r.returncode != 0 and "refused" in r.stderr.lower() and time.time() - t0 < 10,
          "nothing listening on " + DEAD_PORT + ": error naming the refused connection, fast (%s)"
          % r.stderr.strip()[:200])
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", "trtype:XYZ traddr:1.2.3.4")
    check(r.returncode != 0 and "transport id" in r.stderr.lower(),
          "invalid transport ID refused (%s)" % r.stderr.strip()[:200])
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
             "trtype:TCP traddr:127.0.0.1 trsvcid:%s subnqn:nqn.2016-06.io.spdk:nosuch" % PORT)
    check(r.returncode != 0 and "connect" in r.stderr.lower(),
          "unknown subsystem: the Connect refusal is reported (%s)" % r.stderr.strip()[:200])
    r = perf("-q", "1", "-o", "1000", "-w", "read", "-t", "1", "-r", TRID)
    check(r.returncode != 0, "-o 1000 (not a multiple of 512) refused")
    for opt, val, words in (("-k", "abc", "keep alive timeout"),
                            ("--keep-alive-ms", "3600001", "keep alive timeout"),
                            ("--io-queue-size", "1", "I/O queue size"),
                            ("--hostnqn", "bad", "host NQN")):
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", opt, val, "-r", TRID)
        check(r.returncode == 1 and ("invalid %s '%s'" % (words, val)) in r.stderr,
              "%s %s refused with a message (%s)" % (opt, val, r.stderr.strip()[:200]))
    check(alive(p), "target still serving")


def test_sigkill(p):
    print("initiator killed with SIGKILL mid-I/O")
    before = len(qpairs() or [])
    cmd = [PERF, "-c", CORES, "-q", "32", "-o", "131072", "-w", "randwrite", "-t", "20", "-P",
           "2", "-r", TRID]
    k = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = wait_for(lambda: len(qpairs() or []) >= before + 3, 10)
    check(seen, "the target shows the initiator's admin + 2 I/O qpairs")
    time.sleep(0.5)
    k.send_signal(signal.SIGKILL)
    k.wait()
    gone = wait_for(lambda: len(qpairs() or []) == before, 15)
    check(gone, "its qpairs are gone from nvmf_subsystem_get_qpairs (%s left)"
          % (len(qpairs() or []) - before))
    check(alive(p), "target still serving")
    check_run("the next run", perf("-q", "16", "-o", "4096", "-w", "randrw", "-V", "-t", "1",
                                   "-r", TRID), nsids=2)


def test_ns_hotplug(p):
    print("namespaces removed and added during a run")
    ok = rpc_out("bdev_malloc_create", "-b", "Malloc2", "16", "4096") == "Malloc2"
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc2", "-n", "3")
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc3", "16", "4096") == "Malloc3"
    check(ok, "namespace 3 added (Malloc2)")
    cmd = [PERF, "-c", CORES, "-q", "16", "-o", "4096", "-w", "randrw", "-V", "-t", "4", "-r",
           TRID]
    k = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Remove it once nvme_perf has its namespaces (on a loaded machine connecting can take
    # longer than a fixed sleep): its start-up lines end with "Launching workers."
    head = ""
    for line in k.stdout:
        head += line
        if "Launching workers" in line:
            break
    time.sleep(0.5)
    check(rpc_ok("nvmf_subsystem_remove_ns", NQN, "3"), "namespace 3 removed while running")
    time.sleep(0.5)
    check(rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc3", "-n", "4"),
          "namespace 4 added while running")
    try:
        out, err = k.communicate(timeout=min(60, time_left()))
    except subprocess.TimeoutExpired:
        k.kill()
        out, err = k.communicate()
    r = subprocess.CompletedProcess(cmd, k.returncode, head + out, err)
    r.cmd = " ".join(cmd)
    check_run("the run (the removed namespace is not an error)", r, nsids=3)
    check("NSID 3" in err and ("namespace gone" in err or "namespace removed" in err),
          "nvme_perf reports that NSID 3 went away and stops using it")
    rpc_ok("nvmf_subsystem_remove_ns", NQN, "4")
    check(alive(p), "target still serving")


def test_target_killed(p):
    print("target killed mid-run")
    cmd = [PERF, "-c", CORES, "-q", "16", "-o", "4096", "-w", "randrw", "-V", "-t", "30", "-r",
           TRID]
    k = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    p.kill()
    p.wait()
    t0 = time.time()
    try:
        out, err = k.communicate(timeout=min(30, time_left()))
    except subprocess.TimeoutExpired:
        k.kill()
        out, err = k.communicate()
    check(k.returncode == 1 and "I/O errors" in err and time.time() - t0 < 15,
          "nvme_perf reports the failed I/O and exits 1 soon, no crash (rc %s, %.1f s)"
          % (k.returncode, time.time() - t0))
    check(TOTAL_RE.search(out) is not None, "it still prints the table of what completed")


def test_target_hung(p):
    print("target hung (SIGSTOP) mid-run: keep alive times out")
    cmd = [PERF, "-c", CORES, "-q", "16", "-o", "4096", "-w", "randrw", "-V", "-t", "30",
           "--keep-alive-ms", "2000", "-r", TRID]
    k = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    os.kill(p.pid, signal.SIGSTOP)
    t0 = time.time()
    try:
        out, err = k.communicate(timeout=min(20, time_left()))
    except subprocess.TimeoutExpired:
        k.kill()
        out, err = k.communicate()
    finally:
        os.kill(p.pid, signal.SIGCONT)
    took = time.time() - t0
    check(k.returncode == 1 and 2.0 <= took < 8,
          "nvme_perf fails the run after KATO 2 s without a Keep Alive answer, not before and "
          "not hanging (rc %s, %.1f s)" % (k.returncode, took))
    check("Keep Alive" in err or "keep alive" in err,
          "it says why (%s)" % err.strip().splitlines()[-3:])
    check(TOTAL_RE.search(out) is not None, "it still prints the table of what completed")
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-r", TRID)
    check_run("the target, resumed, serves the next run", r, nsids=2)


def test_multicore():
    print("target on two cores: qpairs spread over both poll groups")
    p = start_tgt("-m", "0x3")
    if not setup(p):
        return
    r = perf("-q", "16", "-o", "4096", "-w", "randrw", "-M", "50", "-P", "3", "-V", "-t", "2",
             "-r", TRID)
    check_run("4 KiB randrw verify, -P 3, target -m 0x3", r, nsids=2)
    groups = (rpc_json("nvmf_get_stats") or {}).get("poll_groups") or []
    check(len(groups) == 2 and all(g.get("io_qpairs", 0) > 0 for g in groups),
          "both poll groups served I/O qpairs (%s)"
          % [(g.get("name"), g.get("io_qpairs")) for g in groups])
    check(stop_tgt(p) == 0, "nvmf_tgt -m 0x3 exits 0 on SIGTERM")


def test_multicore_small_pool():
    # issue 7: with num_shared_buffers 64 and buf_cache_size 64 the first poll group
    # used to take every shared buffer at creation: I/O on the second group hung.
    print("target on two cores, num_shared_buffers 64, buf_cache_size 64: no group starves")
    p = start_tgt("-m", "0x3")
    if not setup(p, ("-n", "64", "-b", "64")):
        stop_tgt(p)
        return
    tr = [t for t in (rpc_json("nvmf_get_transports") or []) if t.get("trtype") == "TCP"]
    cache = tr[0].get("buf_cache_size") if tr else None
    check(cache is not None and cache * 2 <= 64 - 1,
          "buf_cache_size clamped so that 2 groups' caches leave an I/O's buffers (%s)" % cache)
    for what, args in (("128 KiB randrw verify", ["-q", "16", "-o", "131072"]),
                       ("4 KiB randrw verify", ["-q", "32", "-o", "4096"])):
        try:
            r = perf(*args, "-w", "randrw", "-M", "50", "-P", "3", "-V", "-t", "2", "-r", TRID,
                     timeout=30)
        except subprocess.TimeoutExpired:
            check(False, what + ", -P 3, small pool: nvme_perf hung (I/O never completed)")
            continue
        check_run(what + ", -P 3, small pool, target -m 0x3", r, nsids=2)
    groups = (rpc_json("nvmf_get_stats") or {}).get("poll_groups") or []
    check(len(groups) == 2 and all(g.get("io_qpairs", 0) > 0 for g in groups),
          "both poll groups served I/O qpairs (%s)"
          % [(g.get("name"), g.get("io_qpairs")) for g in groups])
    check(stop_tgt(p) == 0, "nvmf_tgt -m 0x3 exits 0 on SIGTERM")


def body():
    p = start_tgt()
    if not setup(p):
        return
    test_verify(p)
    test_output(p)
    test_verify_can_fail(p)
    test_bad_input(p)
    test_sigkill(p)
    test_ns_hotplug(p)
    check(stop_tgt(p) == 0, "nvmf_tgt exits 0 on SIGTERM")
    test_multicore()
    test_multicore_small_pool()
    p2 = start_tgt()
    if setup(p2):
        test_target_hung(p2)
        test_target_killed(p2)


if __name__ == "__main__":
    if not os.access(PERF, os.X_OK):
        print("no %s: build first (make)" % PERF)
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(run(body))

#!/usr/bin/env python3
"""End-to-end tests of bdevperf and of the aio and uring bdev modules.

bdevperf runs verify (write a pattern, read it back, compare) on malloc, aio,
uring, split, passthru and delay bdevs and reads from a null bdev; every case
checks the results table bdevperf prints (job rows, Total line, failures),
not only its exit code.  Error injection through a -z run must show up as
failed I/Os and a non-zero exit; bad input must be refused with a message.
The aio/uring RPCs are checked for bad input (missing file, duplicate name,
bad block size) and rescan.  Prints "N passed, N failed".
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
BDEVPERF = os.path.join(BIN_DIR, "bdevperf")
RPC = os.path.join(ROOT, "scripts", "rpc.py")
BDEVPERF_PY = os.path.join(ROOT, "scripts", "bdevperf.py")
TMP = tempfile.mkdtemp(prefix="osp_bdevperf_")
RUN_TIME = int(os.environ.get("BDEVPERF_TEST_TIME", "5"))

passed = 0
failed = 0
skipped = 0
METHODS = set()

ROW_RE = re.compile(r"^\t (\S+)\s*:\s+" + r"\s+".join([r"(-?[\d.]+)"] * 8) + r"\s*$")
TOTAL_RE = re.compile(r"^ Total\s+:\s+" + r"\s+".join([r"(-?[\d.]+)"] * 7) + r"\s*$")
JOB_RE = re.compile(r"^Job: (\S+) \(Core Mask 0x([0-9a-f]+), workload: (\w+),")
COLS = ["runtime", "iops", "mibps", "fail_s", "to_s", "avg", "min", "max"]


def check(cond, what, detail=None):
    global passed, failed
    if cond:
        passed += 1
        print("  ok   " + what)
    else:
        failed += 1
        print("  FAIL " + what)
        if detail:
            print("    | " + "\n    | ".join(str(detail).splitlines()[-40:]))
    return cond


def probe_methods():
    """RPC methods this bdevperf knows (a module not built yet has none)."""
    sock = os.path.join(TMP, "probe.sock")
    log = open(os.path.join(TMP, "probe.log"), "w+")
    p = subprocess.Popen([BDEVPERF, "-z", "-r", sock, "-m", "0x1"], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        if wait_socket(p, sock, log):
            rc, out = rpc(sock, "rpc_get_methods")
            if rc == 0:
                METHODS.update(json.loads(out))
    finally:
        stop(p)
        log.close()


def needs(*methods):
    """Skip a case whose bdev modules are not in this build (said loudly)."""
    global skipped
    missing = [m for m in methods if m not in METHODS]
    if missing:
        skipped += 1
        print("  SKIP (not in this build: %s)" % ", ".join(missing))
        return False
    return True


def write_config(name, calls):
    path = os.path.join(TMP, name + ".json")
    with open(path, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": m, "params": p} for m, p in calls]}]}, f)
    return path


def parse(out):
    """Job rows, Job: headers and the Total line of bdevperf's last table."""
    rows, jobs, total = {}, [], None
    for line in out.splitlines():
        m = JOB_RE.match(line)
        if m:
            jobs.append((m.group(1), m.group(2), m.group(3)))
            continue
        m = ROW_RE.match(line)
        if m:
            rows[m.group(1)] = dict(zip(COLS, map(float, m.groups()[1:])))
            continue
        m = TOTAL_RE.match(line)
        if m:
            total = dict(zip(COLS[1:], map(float, m.groups())))
    return rows, jobs, total


def bdevperf(*args, timeout=60):
    cmd = [BDEVPERF, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -999, out + "\n[timed out]"
    return r.returncode, r.stdout + r.stderr


def check_run(label, rc, out, bdevs, expect_fail=False, min_iops=1.0):
    rows, jobs, total = parse(out)
    if not check(rc == 0 if not expect_fail else rc != 0,
                 "%s: exit status %d" % (label, rc), out):
        return rows, total
    check(total is not None, "%s: Total line printed" % label, out)
    for b in bdevs:
        if not check(b in rows, "%s: result row for %s" % (label, b), out):
            continue
        check(any(j[0] == b for j in jobs), "%s: Job: header for %s" % (label, b), out)
        r = rows[b]
        check(r["iops"] >= min_iops, "%s: %s did %.0f IOPS" % (label, b, r["iops"]), out)
        check(0 <= r["min"] <= r["avg"] <= r["max"] and r["max"] > 0,
              "%s: %s latency min %.2f <= avg %.2f <= max %.2f us"
              % (label, b, r["min"], r["avg"], r["max"]), out)
        if not expect_fail:
            check(r["fail_s"] == 0, "%s: %s had no failed I/O" % (label, b), out)
    if total is not None and rows:
        s = sum(r["iops"] for r in rows.values())
        check(abs(total["iops"] - s) <= 0.02 * s + 1,
              "%s: Total IOPS %.0f is the sum of the jobs (%.0f)" % (label, total["iops"], s),
              out)
    return rows, total


def wait_socket(p, sock, log, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            return False
        if os.path.exists(sock):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sock)
                return True
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    return False


def read_log(log):
    log.flush()
    log.seek(0)
    return log.read()


def rpc(sock, *args):
    r = subprocess.run([sys.executable, RPC, "-s", sock, *args], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def stop(p, timeout=15):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def make_file(name, size):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


# ---- the cases ----

def test_malloc_verify():
    if not needs("bdev_malloc_create"):
        return
    cfg = write_config("malloc", [("bdev_malloc_create",
                                   {"name": "Malloc0", "num_blocks": 16384, "block_size": 512})])
    out_json = os.path.join(TMP, "malloc_results.json")
    rc, out = bdevperf("--json", cfg, "-q", "32", "-o", "4k", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1", "-j", out_json)
    check_run("malloc verify", rc, out, ["Malloc0"])
    check("Verification LBA range: start 0x0 length 0x4000" in out,
          "malloc verify: verification range covers the bdev", out)
    try:
        with open(out_json) as f:
            res = json.load(f)
        r = res["results"][0]
        check(r["job"] == "Malloc0" and r["workload"] == "verify" and r["io_failed"] == 0
              and r["iops"] > 0 and r["queue_depth"] == 32 and r["io_size"] == 4096
              and res["core_count"] == 1, "malloc verify: -j wrote the results as JSON",
              json.dumps(res))
    except (OSError, ValueError, KeyError, IndexError) as e:
        check(False, "malloc verify: -j wrote the results as JSON", repr(e))


def test_malloc_every_core():
    if not needs("bdev_malloc_create"):
        return
    cfg = write_config("malloc_c", [("bdev_malloc_create",
                                     {"name": "Malloc0", "num_blocks": 8192,
                                      "block_size": 4096})])
    rc, out = bdevperf("--json", cfg, "-q", "16", "-o", "4096", "-w", "verify", "-t", "2",
                       "-m", "0x3", "-C", "-s", "512")
    rows, jobs, total = parse(out)
    check(rc == 0 and len(jobs) == 2 and {j[1] for j in jobs} == {"1", "2"},
          "malloc -C -m 0x3: one verify job per core on one bdev", out)
    check("start 0x0 length 0x1000" in out and "start 0x1000 length 0x1000" in out,
          "malloc -C: the jobs verify disjoint halves", out)


def test_null_read():
    if not needs("bdev_null_create"):
        return
    cfg = write_config("null", [("bdev_null_create",
                                 {"name": "Null0", "num_blocks": 262144, "block_size": 4096})])
    rc, out = bdevperf("--json", cfg, "-q", "128", "-o", "4096", "-w", "randread",
                       "-t", str(RUN_TIME), "-m", "0x1")
    rows, _ = check_run("null randread", rc, out, ["Null0"], min_iops=100000)


def test_aio_verify():
    if not needs("bdev_aio_create"):
        return
    path = make_file("aio.img", 64 << 20)
    cfg = write_config("aio", [("bdev_aio_create",
                                {"name": "Aio0", "filename": path, "block_size": 512})])
    rc, out = bdevperf("--json", cfg, "-q", "32", "-o", "4096", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1")
    check_run("aio verify", rc, out, ["Aio0"])
    with open(path, "rb") as f:
        data = f.read(4096)
    # Block 0 was written by verify: its first word is its LBA (0), the
    # second the run's seed (never 0).
    check(int.from_bytes(data[8:16], "little") != 0,
          "aio verify: the pattern reached the file")


def test_uring_verify():
    if not needs("bdev_uring_create"):
        return
    path = make_file("uring.img", 64 << 20)
    cfg = write_config("uring", [("bdev_uring_create", {"name": "Uring0", "filename": path})])
    rc, out = bdevperf("--json", cfg, "-q", "32", "-o", "4096", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1")
    check_run("uring verify", rc, out, ["Uring0"])


def test_split_verify():
    if not needs("bdev_malloc_create", "bdev_split_create"):
        return
    cfg = write_config("split", [
        ("bdev_malloc_create", {"name": "Malloc1", "num_blocks": 32768, "block_size": 512}),
        ("bdev_split_create", {"base_bdev": "Malloc1", "split_count": 2})])
    rc, out = bdevperf("--json", cfg, "-q", "16", "-o", "4096", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1")
    rows, _ = check_run("split verify", rc, out, ["Malloc1p0", "Malloc1p1"])
    check("Malloc1" not in rows, "split verify: the claimed base bdev is not tested", out)


def test_passthru_verify():
    if not needs("bdev_malloc_create", "bdev_passthru_create"):
        return
    cfg = write_config("passthru", [
        ("bdev_malloc_create", {"name": "Malloc2", "num_blocks": 16384, "block_size": 512}),
        ("bdev_passthru_create", {"base_bdev_name": "Malloc2", "name": "PT0"})])
    rc, out = bdevperf("--json", cfg, "-q", "32", "-o", "4096", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1")
    rows, _ = check_run("passthru verify", rc, out, ["PT0"])
    check("Malloc2" not in rows, "passthru verify: the claimed base bdev is not tested", out)


def test_delay_verify():
    if not needs("bdev_malloc_create", "bdev_delay_create"):
        return
    cfg = write_config("delay", [
        ("bdev_malloc_create", {"name": "Malloc3", "num_blocks": 16384, "block_size": 512}),
        ("bdev_delay_create", {"base_bdev_name": "Malloc3", "name": "Delay0",
                               "avg_read_latency": 200, "p99_read_latency": 400,
                               "avg_write_latency": 200, "p99_write_latency": 400})])
    rc, out = bdevperf("--json", cfg, "-q", "16", "-o", "4096", "-w", "verify",
                       "-t", str(RUN_TIME), "-m", "0x1")
    rows, _ = check_run("delay verify", rc, out, ["Delay0"])
    if "Delay0" in rows:
        check(rows["Delay0"]["avg"] >= 150,
              "delay verify: average latency %.1f us reflects the 200 us delay"
              % rows["Delay0"]["avg"], out)


def test_error_injection():
    if not needs("bdev_malloc_create", "bdev_error_create", "bdev_error_inject_error"):
        return
    sock = os.path.join(TMP, "bdevperf_err.sock")
    cfg = write_config("error", [
        ("bdev_malloc_create", {"name": "Malloc4", "num_blocks": 16384, "block_size": 512}),
        ("bdev_error_create", {"base_name": "Malloc4"})])
    log = open(os.path.join(TMP, "bdevperf_err.log"), "w+")
    p = subprocess.Popen([BDEVPERF, "-z", "-r", sock, "--json", cfg, "-q", "16", "-o", "4096",
                          "-w", "verify", "-t", "2", "-m", "0x1"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        if not check(wait_socket(p, sock, log), "error: bdevperf -z listens", read_log(log)):
            return
        r = subprocess.run([sys.executable, BDEVPERF_PY, "-s", sock, "perform_tests"],
                           capture_output=True, text=True, timeout=60)
        ok = r.returncode == 0
        try:
            res = json.loads(r.stdout)
            ok = ok and res["results"][0]["job"] == "EE_Malloc4" and \
                res["results"][0]["io_failed"] == 0 and res["results"][0]["iops"] > 0
        except (ValueError, KeyError, IndexError):
            ok = False
        check(ok, "error: clean perform_tests run on EE_Malloc4 before injection",
              r.stdout + r.stderr + read_log(log))
        rc, out = rpc(sock, "bdev_error_inject_error", "EE_Malloc4", "all", "failure",
                      "-n", "10")
        check(rc == 0, "error: bdev_error_inject_error accepted", out)
        r = subprocess.run([sys.executable, BDEVPERF_PY, "-s", sock, "perform_tests", "-t", "2"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and "failed" in r.stderr,
              "error: perform_tests reports the failure", r.stdout + r.stderr)
        try:
            prc = p.wait(30)
        except subprocess.TimeoutExpired:
            prc = None
        out = read_log(log)
        check(prc is not None and prc != 0, "error: bdevperf exits non-zero (%s)" % prc, out)
        last = out[out.rfind("Latency(us)"):]
        rows, _, total = parse(last)
        check("EE_Malloc4" in rows and rows["EE_Malloc4"]["fail_s"] > 0,
              "error: the EE_Malloc4 row shows failed I/O per second", last)
        check(total is not None and total["fail_s"] > 0, "error: Total shows failures", last)
        check(re.search(r"bdevperf: \d+ I/O\(s\) failed", out) is not None,
              "error: bdevperf names the number of failed I/Os", out)
    finally:
        stop(p)
        log.close()


def test_miscompare():
    if not needs("bdev_malloc_create", "bdev_error_create", "bdev_error_inject_error"):
        return
    sock = os.path.join(TMP, "bdevperf_mis.sock")
    cfg = write_config("miscompare", [
        ("bdev_malloc_create", {"name": "Malloc5", "num_blocks": 16384, "block_size": 512}),
        ("bdev_error_create", {"base_name": "Malloc5"})])
    log = open(os.path.join(TMP, "bdevperf_mis.log"), "w+")
    p = subprocess.Popen([BDEVPERF, "-z", "-r", sock, "--json", cfg, "-q", "8", "-o", "4096",
                          "-w", "verify", "-t", "2", "-m", "0x1"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        if not check(wait_socket(p, sock, log), "miscompare: bdevperf -z listens", read_log(log)):
            return
        rc, out = rpc(sock, "bdev_error_inject_error", "EE_Malloc5", "read", "corrupt_data",
                      "-n", "3", "-o", "100", "-v", "255")
        if rc != 0:
            print("  skip miscompare: corrupt_data injection not available: "
                  + out.strip().splitlines()[-1] if out.strip() else "")
            return
        subprocess.run([sys.executable, BDEVPERF_PY, "-s", sock, "perform_tests"],
                       capture_output=True, text=True, timeout=60)
        try:
            prc = p.wait(30)
        except subprocess.TimeoutExpired:
            prc = None
        out = read_log(log)
        check(prc is not None and prc != 0, "miscompare: bdevperf exits non-zero", out)
        check(re.search(r"miscompare at offset 0x[0-9a-f]+ \(block \d+\): expected lba \d+",
                        out) is not None, "miscompare: offset and expected/got reported", out)
    finally:
        stop(p)
        log.close()


def test_bad_input():
    if not needs("bdev_aio_create"):
        return
    path = make_file("bad.img", 8 << 20)
    cfg = write_config("bad", [("bdev_aio_create",
                                {"name": "Aio6", "filename": path, "block_size": 512})])
    rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "1000", "-w", "read", "-t", "1")
    check(rc != 0 and "not a multiple of the block size" in out,
          "bad input: I/O size not a multiple of the block size is refused", out)
    rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "4096", "-w", "sideways", "-t", "1")
    check(rc != 0 and "unknown workload 'sideways'" in out,
          "bad input: unknown workload is refused", out)
    rc, out = bdevperf("--json", cfg, "-o", "4096", "-w", "read", "-t", "1")
    check(rc != 0 and "queue depth (-q)" in out, "bad input: missing -q is refused", out)
    rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "4096", "-w", "rw", "-t", "1")
    check(rc != 0 and "-M" in out, "bad input: rw without -M is refused", out)
    rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "4096", "-w", "read", "-t", "1",
                       "-T", "Nope0")
    check(rc != 0 and "no bdev named Nope0" in out, "bad input: -T of a missing bdev", out)


def test_file_rpcs():
    """aio/uring RPC bad input and rescan, on a bdevperf -z that never runs a test."""
    if not needs("bdev_aio_create", "bdev_uring_create", "bdev_get_bdevs"):
        return
    sock = os.path.join(TMP, "bdevperf_rpc.sock")
    log = open(os.path.join(TMP, "bdevperf_rpc.log"), "w+")
    p = subprocess.Popen([BDEVPERF, "-z", "-r", sock, "-m", "0x1"], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        if not check(wait_socket(p, sock, log), "rpc: bdevperf -z listens", read_log(log)):
            return
        missing = os.path.join(TMP, "does-not-exist.img")
        for method in ("bdev_aio_create", "bdev_uring_create"):
            rc, out = rpc(sock, method, missing, "F0")
            check(rc != 0 and missing in out and "No such file" in out,
                  "rpc: %s of a missing file names it" % method, out)
        path = make_file("rpc.img", 8 << 20)
        rc, out = rpc(sock, "bdev_aio_create", path, "A0", "1000")
        check(rc != 0 and "block_size 1000" in out, "rpc: aio block size 1000 refused", out)
        rc, out = rpc(sock, "bdev_aio_create", path, "A0", "256")
        check(rc != 0 and "block_size 256" in out, "rpc: aio block size 256 refused", out)
        rc, out = rpc(sock, "bdev_uring_create", path, "U0", "3072")
        check(rc != 0 and "block_size 3072" in out, "rpc: uring block size 3072 refused", out)
        rc, out = rpc(sock, "bdev_aio_create", path, "A0")
        check(rc == 0 and out.strip() == "A0", "rpc: bdev_aio_create prints the name", out)
        rc, out = rpc(sock, "bdev_aio_create", path, "A0")
        check(rc != 0 and "already exists" in out, "rpc: duplicate aio name refused", out)
        rc, out = rpc(sock, "bdev_uring_create", path, "A0")
        check(rc != 0 and "already exists" in out, "rpc: uring with a taken name refused", out)
        rc, out = rpc(sock, "bdev_get_bdevs", "-b", "A0")
        try:
            b = json.loads(out)[0]
            aio = b.get("driver_specific", {}).get("aio", {})
            check(b["block_size"] == 512 and b["num_blocks"] == 16384 and
                  aio.get("filename") == path and aio.get("block_size") == 512,
                  "rpc: bdev_get_bdevs shows geometry and driver_specific.aio", out)
        except (ValueError, KeyError, IndexError, AttributeError):
            check(False, "rpc: bdev_get_bdevs shows geometry and driver_specific.aio", out)
        with open(path, "r+b") as f:
            f.truncate(16 << 20)
        rc, out = rpc(sock, "bdev_aio_rescan", "A0")
        check(rc == 0, "rpc: bdev_aio_rescan", out)
        rc, out = rpc(sock, "bdev_get_bdevs", "-b", "A0")
        try:
            check(json.loads(out)[0]["num_blocks"] == 32768,
                  "rpc: rescan picked up the new size", out)
        except (ValueError, KeyError, IndexError):
            check(False, "rpc: rescan picked up the new size", out)
        rc, out = rpc(sock, "save_config")
        check(rc == 0 and '"bdev_aio_create"' in out and path in out,
              "rpc: save_config has bdev_aio_create", out)
        rc, out = rpc(sock, "bdev_uring_create", path, "U1", "4096")
        check(rc == 0 and out.strip() == "U1", "rpc: bdev_uring_create with block size 4096",
              out)
        for name, method in (("A0", "bdev_aio_delete"), ("U1", "bdev_uring_delete")):
            rc, out = rpc(sock, method, name)
            check(rc == 0, "rpc: %s %s" % (method, name), out)
        rc, out = rpc(sock, "bdev_aio_delete", "A0")
        check(rc != 0 and "A0" in out, "rpc: deleting a missing aio bdev is an error", out)
        rc, out = rpc(sock, "bdev_get_bdevs")
        check(rc == 0 and "A0" not in out and "U1" not in out, "rpc: deleted bdevs are gone",
              out)
    finally:
        rc = stop(p)
        check(rc == 0, "rpc: bdevperf -z exits cleanly on SIGINT (%d)" % rc, read_log(log))
        log.close()


def main():
    if not os.path.exists(BDEVPERF):
        print("bdevperf not built: %s" % BDEVPERF)
        print("0 passed, 1 failed")
        return 1
    only = sys.argv[1:]
    probe_methods()
    if not METHODS:
        check(False, "bdevperf -z answers rpc_get_methods")
    tests = [test_malloc_verify, test_malloc_every_core, test_null_read, test_aio_verify,
             test_uring_verify, test_split_verify, test_passthru_verify, test_delay_verify,
             test_error_injection, test_miscompare, test_bad_input, test_file_rpcs]
    t0 = time.time()
    for t in tests:
        if only and t.__name__ not in only and t.__name__[5:] not in only:
            continue
        print("== %s" % t.__name__[5:])
        try:
            t()
        except Exception as e:  # a crash of the test itself is a failure too
            check(False, "%s raised %r" % (t.__name__, e))
    print("(%.0f s)" % (time.time() - t0))
    if skipped:
        print("%d case(s) skipped: their bdev modules are not in this build" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    if failed == 0:
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print("logs and files kept in %s" % TMP)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run libiscsi's conformance suite (iscsi-test-cu, Debian package
libiscsi-bin) against Osprey's iscsi_tgt, or against tgtd to calibrate.

For each LUN kind (malloc: a thin-provisioned LUN on a malloc bdev; aio: a
thin-provisioned LUN on an aio bdev over a file, unmap by fallocate) it runs
`iscsi-test-cu -t ALL --dataloss` with a second initiator name and a second
(multipath) URL to the same LUN, then prints passed / failed / skipped per
kind, every failure, and every skip with the reason the suite printed.

A test counts as passed when CUnit says so and the suite printed no
[SKIPPED] for it; skipped when it printed [SKIPPED] (the reason is kept);
failed when CUnit failed it. Exit status: 0 when every kind has 0 failures
and at least --min-pass passed tests (Osprey only; tgtd runs just report).

ALL is run as its suites, in the suite's own order, with one exception:
CompareAndWrite.InvalidDataOutSize runs last, on its own. On a LUN with
LBPPB > 1 it installs a PDU hook that rewrites byte 13 of every later SCSI
command's CDB, and leaves it installed if the target's answer is not the one
it expects; run first (as in -t ALL) it could fail every later test.
(A list of single tests would not do: iscsi-test-cu runs a comma-separated
list back to front, each as a suite of its own, and
iSCSITMF.LUNResetSimpleAsync passes only after AbortTaskSimpleAsync in the
same suite.)

Options: --target osprey|tgtd, --kinds malloc,aio, --tests SPEC (instead of
ALL, e.g. ALL.WriteSame16), --min-pass N, --keep (leave the logs), -v (the
suite's output). Environment: OSPREY_BIN_DIR (default build/bin),
LIBISCSI_PORT (first TCP port to use; default: a free one).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN_DIR = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
RPC = os.path.join(ROOT, "scripts", "rpc.py")
TEST_CU = "iscsi-test-cu"
INIT1 = "iqn.2026-12.io.osprey.test:libiscsi-1"
INIT2 = "iqn.2026-12.io.osprey.test:libiscsi-2"
LUN_MB = 64
BLOCK = 512
CAW_HOOK_TEST = "ALL.CompareAndWrite.InvalidDataOutSize"
RUN_TIMEOUT = 300          # one iscsi-test-cu run


def free_port():
    if os.environ.get("LIBISCSI_PORT"):
        return int(os.environ["LIBISCSI_PORT"])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Daemon:
    """What both targets share: a process (self.proc) logging to self.log."""

    def logtail(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Osprey(Daemon):
    """iscsi_tgt with one target node per LUN kind, configured over JSON-RPC."""
    name = "osprey"

    def __init__(self, tmp, port):
        self.tmp, self.port = tmp, port
        self.sock = os.path.join(tmp, "rpc.sock")
        self.log = open(os.path.join(tmp, "iscsi_tgt.log"), "w+")
        self.proc = subprocess.Popen([os.path.join(BIN_DIR, "iscsi_tgt"), "-r", self.sock,
                                      "-m", "0x1"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not (os.path.exists(self.sock) and self.rpc("framework_wait_init", check=False)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("iscsi_tgt did not come up:\n" + self.logtail())
            time.sleep(0.1)
        self.rpc("iscsi_create_portal_group", "1", "127.0.0.1:%d" % port)
        self.rpc("iscsi_create_initiator_group", "2", "ANY", "127.0.0.1/32")

    def rpc(self, *args, check=True):
        r = subprocess.run([sys.executable, RPC, "-s", self.sock, "-t", "20", *args],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.returncode == 0

    def add_lun(self, kind):
        bdev = {"malloc": "Malloc0", "aio": "AIO0"}[kind]
        if kind == "malloc":
            self.rpc("bdev_malloc_create", "-b", bdev, str(LUN_MB), str(BLOCK))
        else:
            path = os.path.join(self.tmp, "aio.img")
            with open(path, "wb") as f:
                f.truncate(LUN_MB << 20)
            self.rpc("bdev_aio_create", "--fallocate", path, bdev, str(BLOCK))
        self.rpc("iscsi_create_target_node", kind, kind, "%s:0" % bdev, "1:2", "64", "-d")
        return "iscsi://127.0.0.1:%d/iqn.2016-06.io.spdk:%s/0" % (self.port, kind)



class Tgtd(Daemon):
    """tgtd 1.0.x (Debian tgt) for calibration: file-backed LUN 1 of one
    target per kind (malloc: a file in /dev/shm, thin provisioning on)."""
    name = "tgtd"

    def __init__(self, tmp, port):
        # tgtd -C takes a small number (its control socket suffix), not any port
        self.tmp, self.port, self.ctl = tmp, port, str(2000 + port % 28000)
        self.tid = 0
        self.log = open(os.path.join(tmp, "tgtd.log"), "w+")
        self.shm = []
        self.proc = subprocess.Popen(["tgtd", "-f", "-C", self.ctl, "--iscsi",
                                      "portal=127.0.0.1:%d" % port],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(port, self.proc):
            raise RuntimeError("tgtd did not come up:\n" + self.logtail())

    def adm(self, *args):
        r = subprocess.run(["tgtadm", "-C", self.ctl, "--lld", "iscsi", *args],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("tgtadm %s: %s%s" % (" ".join(args), r.stdout, r.stderr))

    def add_lun(self, kind):
        self.tid += 1
        tid = str(self.tid)
        iqn = "iqn.2026-12.io.osprey.tgtd:%s" % kind
        if kind == "malloc":
            path = tempfile.mktemp(prefix="islibiscsi_tgtd_", dir="/dev/shm")
            self.shm.append(path)
        else:
            path = os.path.join(self.tmp, "tgtd_aio.img")
        with open(path, "wb") as f:
            f.truncate(LUN_MB << 20)
        self.adm("--op", "new", "--mode", "target", "--tid", tid, "-T", iqn)
        self.adm("--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", "1",
                 "-b", path)
        self.adm("--op", "update", "--mode", "logicalunit", "--tid", tid, "--lun", "1",
                 "--params", "thin_provisioning=1")
        self.adm("--op", "bind", "--mode", "target", "--tid", tid, "-I", "ALL")
        return "iscsi://127.0.0.1:%d/%s/1" % (self.port, iqn)

    def stop(self):
        super().stop()
        for p in self.shm:
            try:
                os.unlink(p)
            except OSError:
                pass
        return 0


def suite_specs(spec):
    """The -t arguments for one kind: [main run, the hook test alone] (see top)."""
    if spec != "ALL":
        return [spec]
    names = subprocess.run([TEST_CU, "-l"], capture_output=True, text=True).stdout.split()
    suites = [n for n in names if n.startswith("ALL.") and n.count(".") == 1]
    caw = [n for n in names if n.startswith("ALL.CompareAndWrite.") and n != CAW_HOOK_TEST]
    main = [s for s in suites if s != "ALL.CompareAndWrite"] + caw
    # iscsi-test-cu runs a comma-separated list last to first.
    return [",".join(reversed(main)), CAW_HOOK_TEST]


def parse(text):
    """{test: (state, reason)} from iscsi-test-cu's verbose output."""
    res, order = {}, []
    suite = cur = None
    for line in text.splitlines():
        m = re.match(r"^Suite: (\S+)", line)
        if m:
            suite, cur = m.group(1), None
            continue
        m = re.match(r"^  Test: (\S+) \.\.\.(.*)$", line)
        if m:
            cur = "%s.%s" % (suite, m.group(1))
            if cur not in res:
                order.append(cur)
            res[cur] = [None, ""]
            rest = m.group(2)
        elif cur is None:
            continue
        else:
            rest = line
        if "[SKIPPED]" in rest and not res[cur][1]:
            res[cur][1] = rest.split("[SKIPPED]", 1)[1].strip()
        if res[cur][0] is None:
            if rest.startswith("passed"):
                res[cur][0] = "passed"
            elif rest.startswith("FAILED"):
                res[cur][0] = "failed"
    out = {}
    for t in order:
        state, reason = res[t]
        if state is None:
            state = "failed"       # no verdict: the run died in the test
            reason = "no result (the run ended inside this test)"
        elif state == "passed" and reason:
            state = "skipped"
        out[t] = (state, reason)
    return out


def run_timed(cmd, cwd, times):
    """Run iscsi-test-cu; its output, and in times about how long each test
    took. With line-buffered output a test's "Test: NAME ..." line comes out
    with its first newline (its result, or its first log line), so a test's
    time is from the previous test's line to its own."""
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL", "-eL"] + cmd     # line by line, or the times mean nothing
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         errors="replace", cwd=cwd, bufsize=1)
    lines, suite, t_last = [], None, time.time()
    deadline = time.time() + RUN_TIMEOUT
    timer = threading.Timer(RUN_TIMEOUT, p.kill)
    timer.start()
    try:
        for line in p.stdout:
            now = time.time()
            lines.append(line)
            m = re.match(r"^Suite: (\S+)", line)
            if m:
                suite = m.group(1)
            m = re.match(r"^  Test: (\S+) ", line)
            if m:
                times["%s.%s" % (suite, m.group(1))] = now - t_last
                t_last = now
        p.wait()
    finally:
        timer.cancel()
    if time.time() >= deadline:
        lines.append("\n[run killed after %d s]\n" % RUN_TIMEOUT)
    return "".join(lines)


def run_kind(target, kind, spec, tmp, verbose):
    url = target.add_lun(kind)
    results = {}
    times = {}
    t0 = time.time()
    for i, tspec in enumerate(suite_specs(spec)):
        cmd = [TEST_CU, "-t", tspec, "--dataloss", "-i", INIT1, "-I", INIT2, url, url]
        logpath = os.path.join(tmp, "%s_%s_%d.txt" % (target.name, kind, i))
        text = run_timed(cmd, tmp, times)
        with open(logpath, "w") as f:
            f.write(text)
        if verbose:
            print(text)
        results.update(parse(text))
        if not target.alive():
            print("  %s died during the run:\n%s" % (target.name, target.logtail()))
            break
    return results, time.time() - t0, times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=["osprey", "tgtd"], default="osprey")
    ap.add_argument("--kinds", default="malloc,aio")
    ap.add_argument("--tests", default="ALL")
    ap.add_argument("--min-pass", type=int, default=200)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    for tool in [TEST_CU] + (["tgtd", "tgtadm"] if a.target == "tgtd" else []):
        if shutil.which(tool) is None:
            print("%s not found (Debian packages libiscsi-bin, tgt; scripts/pkgdep.sh)" % tool)
            return 1
    if a.target == "osprey" and not os.access(os.path.join(BIN_DIR, "iscsi_tgt"), os.X_OK):
        print("no %s/iscsi_tgt: build first (make)" % BIN_DIR)
        return 1
    tmp = tempfile.mkdtemp(prefix="islibiscsi_")
    port = free_port()
    target = None
    ok = True
    summary = []
    try:
        target = (Osprey if a.target == "osprey" else Tgtd)(tmp, port)
        for kind in a.kinds.split(","):
            res, secs, times = run_kind(target, kind, a.tests, tmp, a.verbose)
            n = {s: sum(1 for v in res.values() if v[0] == s)
                 for s in ("passed", "failed", "skipped")}
            print("== %s %s: %d passed, %d failed, %d skipped (%d tests, %.0f s)" %
                  (a.target, kind, n["passed"], n["failed"], n["skipped"], len(res), secs))
            slow = sorted(times.items(), key=lambda kv: -kv[1])[:5]
            print("  slowest: " + ", ".join("%s %.1f s" % kv for kv in slow))
            for t, (state, reason) in res.items():
                if state == "failed":
                    print("  FAILED  %s %s" % (t, reason))
            for t, (state, reason) in res.items():
                if state == "skipped":
                    print("  skipped %s: %s" % (t, reason))
            kind_ok = not (n["failed"] or not res or (a.target == "osprey" and a.tests == "ALL"
                                                       and n["passed"] < a.min_pass))
            if not kind_ok and n["passed"] < a.min_pass and not n["failed"]:
                print("  fewer than %d passed" % a.min_pass)
            summary.append((kind, n, kind_ok))
            ok = ok and kind_ok
            if not target.alive():
                ok = False
                break
    except Exception as e:
        print("unexpected: %r" % e)
        if target is not None:
            print(target.logtail())
        ok = False
    finally:
        rc = target.stop() if target is not None else 0
        if a.target == "osprey" and rc not in (0, None):
            print("iscsi_tgt exited with %s:\n%s" % (rc, target.logtail()))
            ok = False
        if a.target == "osprey" and target is not None:
            target.log.flush()
            target.log.seek(0)
            log = target.log.read()
            if any(k in log for k in ("AddressSanitizer", "LeakSanitizer", "runtime error:")):
                print("sanitizer report in the iscsi_tgt log:\n" + log[-6000:])
                ok = False
        if a.keep or not ok:
            print("logs in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for kind, n, _ in summary:
        print("%s %s: %d passed, %d failed, %d skipped" %
              (a.target, kind, n["passed"], n["failed"], n["skipped"]))
    good = sum(1 for s in summary if s[2])
    print("%d passed, %d failed" % (good, len(a.kinds.split(",")) - good if ok else
                                    max(1, len(a.kinds.split(",")) - good)))
    return 0 if ok or a.target == "tgtd" else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""End-to-end test of the NVMe bdev module (drivers/bdev/nvme): a bdevperf
(-z) attaches to nvmf_tgt over NVMe/TCP on 127.0.0.1 (ports picked free at run time) with
bdev_nvme_attach_controller and runs its workloads through the chain.

Covers: attach answers the bdev names (["Nvme0n1", "Nvme0n2"]); what
bdev_nvme_get_controllers and bdev_get_bdevs report; bdevperf verify at 4 KiB
and 128 KiB (data checked end to end) with and without digests, plus unmap,
write_zeroes, flush and reset (controller reset and qpair reconnect); attach
errors (nothing listening, unknown subsystem, duplicate name, bad trtype,
bad port) answered with a clear JSON-RPC error and not a hang; namespaces
added and removed on the target appear and disappear as bdevs; save_config
fed to a new bdevperf with --json rebuilds the controller and its bdevs;
detach removes the bdevs and the target's qpairs; bdevperf exits 0 on
SIGTERM with a controller attached. Prints "N passed, N failed" last, exits
non-zero on failure. Only processes it started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the binaries to test.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import osp_e2e  # noqa: E402
from osp_e2e import *  # noqa: E402,F401,F403

osp_e2e.TGT = os.path.join(osp_e2e.BIN_DIR, "nvmf_tgt")
BDEVPERF = os.path.join(osp_e2e.BIN_DIR, "bdevperf")
BDEVPERF_PY = os.path.join(osp_e2e.ROOT, "scripts", "bdevperf.py")
NQN = "nqn.2016-06.io.spdk:cnode1"
NQN2 = "nqn.2016-06.io.spdk:cnode2"
PORT, DEAD_PORT = (str(p) for p in free_ports(2))   # DEAD_PORT: nothing listens there
CORES = "0x2" if (os.cpu_count() or 1) >= 2 else "0x1"


class App:
    """A second Osprey process (bdevperf -z) on its own RPC socket."""

    def __init__(self, tag, *args):
        self.sock = os.path.join(osp_e2e.TMP, tag + ".sock")
        log = open(os.path.join(osp_e2e.TMP, tag + ".log"), "w+")
        self.p = subprocess.Popen([BDEVPERF, "-r", self.sock, "-m", CORES, "-z", *args],
                                  stdout=log, stderr=subprocess.STDOUT)
        self.p.logfile = log
        osp_e2e.procs.append(self.p)
        ok = wait_for(lambda: self.p.poll() is None and os.path.exists(self.sock) and
                      self.rpc("framework_wait_init").returncode == 0, 30)
        if not ok:
            raise RuntimeError("bdevperf did not come up:\n" + tgt_log(self.p))

    def rpc(self, *args, timeout=20):
        return subprocess.run([sys.executable, osp_e2e.RPC, "-s", self.sock, "-t", str(timeout),
                               *args], capture_output=True, text=True,
                              timeout=min(timeout + 30, time_left()))

    def rpc_json(self, *args):
        r = self.rpc(*args)
        if r.returncode != 0:
            print("    rpc.py %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
            return None
        return json.loads(r.stdout) if r.stdout.strip() else None

    def perform(self, *args, secs=2):
        r = subprocess.run([sys.executable, BDEVPERF_PY, "-s", self.sock, "perform_tests",
                            "-t", str(secs), *args], capture_output=True, text=True,
                           timeout=min(secs + 90, time_left()))
        if r.returncode != 0:
            print("    perform_tests %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
            return None
        return json.loads(r.stdout)

    def raw(self, method, params=None):
        """One JSON-RPC call (methods rpc.py has no command for)."""
        return osp_e2e.raw_call(method, params, sock=self.sock, timeout=30)

    def state(self, name="Nvme0"):
        c = self.rpc_json("bdev_nvme_get_controllers", "-n", name) or [{}]
        return (c[0].get("ctrlrs") or [{}])[0].get("state")

    def bdev_names(self):
        return sorted(b["name"] for b in (self.rpc_json("bdev_get_bdevs") or []))

    def alive(self):
        return self.p.poll() is None and self.rpc("spdk_get_version").returncode == 0


def attach(app, name="Nvme0", port=PORT, nqn=NQN, *extra):
    return app.rpc("bdev_nvme_attach_controller", "-b", name, "-t", "tcp", "-a", "127.0.0.1",
                   "-f", "ipv4", "-s", port, "-n", nqn, *extra)


def qpairs():
    return rpc_json("nvmf_subsystem_get_qpairs", NQN) or []


def setup(p):
    print("target set-up")
    ok = rpc_ok("nvmf_create_transport", "-t", "tcp")
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc0", "64", "4096") == "Malloc0"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc1", "16", "512") == "Malloc1"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc2", "8", "4096") == "Malloc2"
    ok &= rpc_ok("nvmf_create_subsystem", NQN, "-a", "-s", "OSP0002")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc0")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc1")
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1", "-s", PORT)
    # A second subsystem on its own disk: two controllers never share storage
    # (two verify jobs on one disk would overwrite each other's patterns).
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc3", "16", "4096") == "Malloc3"
    ok &= rpc_ok("nvmf_create_subsystem", NQN2, "-a", "-s", "OSP0003")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN2, "Malloc3")
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN2, "-t", "tcp", "-a", "127.0.0.1", "-s", PORT)
    check(ok, "nvmf_tgt: TCP transport, %s with 2 malloc namespaces, %s with 1, port %s"
          % (NQN, NQN2, PORT))
    return ok


def test_attach(app):
    print("attach and inspect")
    r = attach(app)
    names = r.stdout.split()
    check(r.returncode == 0 and names == ["Nvme0n1", "Nvme0n2"],
          "bdev_nvme_attach_controller answers the bdev names (%s%s)" % (r.stdout, r.stderr))
    raw = app.rpc("bdev_nvme_get_controllers")
    ctrls = json.loads(raw.stdout) if raw.returncode == 0 else []
    c = ctrls[0] if len(ctrls) == 1 else {}
    cc = (c.get("ctrlrs") or [{}])[0]
    trid = cc.get("trid", {})
    check(c.get("name") == "Nvme0" and cc.get("state") == "enabled" and
          trid.get("trtype") == "TCP" and trid.get("adrfam") == "IPv4" and
          trid.get("traddr") == "127.0.0.1" and trid.get("trsvcid") == PORT and
          trid.get("subnqn") == NQN and isinstance(cc.get("cntlid"), int) and
          cc.get("host", {}).get("nqn", "").startswith("nqn."),
          "bdev_nvme_get_controllers: name, state, trid, cntlid, host nqn (%s)" % ctrls)
    one = app.rpc_json("bdev_nvme_get_controllers", "-n", "Nvme0")
    check(one is not None and len(one) == 1 and one[0]["name"] == "Nvme0",
          "bdev_nvme_get_controllers -n Nvme0")
    r = app.rpc("bdev_nvme_get_controllers", "-n", "Nope")
    check(r.returncode != 0 and "Nope" in r.stdout + r.stderr,
          "bdev_nvme_get_controllers -n Nope: error naming it")
    bdevs = {b["name"]: b for b in (app.rpc_json("bdev_get_bdevs") or [])}
    b1, b2 = bdevs.get("Nvme0n1", {}), bdevs.get("Nvme0n2", {})
    check(b1.get("block_size") == 4096 and b1.get("num_blocks") == 16384 and
          b2.get("block_size") == 512 and b2.get("num_blocks") == 32768 and
          b1.get("product_name") == "NVMe disk",
          "bdev_get_bdevs: geometry of the target's namespaces")
    q = [x for x in qpairs()]
    check(len(q) >= 1, "the target shows the initiator's qpairs (%d)" % len(q))


def job_ok(res, what, extra=None):
    jobs = (res or {}).get("results", [])
    ok = len(jobs) == 2 and all(j.get("io_completed", 0) > 0 and j.get("io_failed") == 0 and
                                j.get("miscompares", 0) == 0 for j in jobs)
    if extra is not None:
        ok = ok and all(extra(j) for j in jobs)
    check(ok, what + " (%s)" % [(j.get("job"), j.get("iops"), j.get("io_failed"),
                                  j.get("miscompares")) for j in jobs])


def test_io(app):
    print("bdevperf through bdev_nvme -> NVMe/TCP -> nvmf_tgt -> malloc")
    job_ok(app.perform("-w", "verify", "-o", "4096", "-q", "32"), "verify 4 KiB qd 32")
    job_ok(app.perform("-w", "verify", "-o", "131072", "-q", "8"), "verify 128 KiB qd 8")
    job_ok(app.perform("-w", "verify", "-o", "262144", "-q", "4"),
           "verify 256 KiB (split by the layer at the max transfer size)")
    job_ok(app.perform("-w", "randrw", "-M", "50", "-o", "8192", "-q", "16"), "randrw 8 KiB")
    job_ok(app.perform("-w", "unmap", "-o", "65536", "-q", "8", secs=1), "unmap")
    job_ok(app.perform("-w", "write_zeroes", "-o", "65536", "-q", "8", secs=1), "write_zeroes")
    job_ok(app.perform("-w", "flush", "-o", "4096", "-q", "8", secs=1), "flush")
    res = app.perform("-w", "reset", "-o", "4096", "-q", "8", secs=3)
    jobs = (res or {}).get("results", [])
    check(len(jobs) == 2 and all(j.get("resets", 0) > 0 and j.get("io_completed", 0) > 0
                                 for j in jobs),
          "reset workload: controller resets, I/O goes on after each (%s)"
          % [(j.get("resets"), j.get("io_completed"), j.get("io_failed")) for j in jobs])
    job_ok(app.perform("-w", "verify", "-o", "4096", "-q", "16", secs=1),
           "verify after the resets: qpairs reconnected")


def test_digests(app):
    print("header and data digests")
    r = attach(app, "Nvme1", PORT, NQN2, "-e", "-d")
    check(r.returncode == 0 and r.stdout.split() == ["Nvme1n1"],
          "attach Nvme1 (%s) with -e -d (%s%s)" % (NQN2, r.stdout, r.stderr))
    res = app.perform("-w", "verify", "-o", "131072", "-q", "8", secs=2)
    jobs = [j for j in (res or {}).get("results", [])]
    check(len(jobs) == 3 and all(j.get("io_completed", 0) > 0 and j.get("io_failed") == 0 and
                                 j.get("miscompares", 0) == 0 for j in jobs),
          "verify 128 KiB on 3 bdevs, one of them with digests")
    res = app.perform("-w", "verify", "-o", "4096", "-q", "32", secs=1)
    jobs = [j for j in (res or {}).get("results", [])]
    check(len(jobs) == 3 and all(j.get("io_completed", 0) > 0 and j.get("io_failed") == 0 and
                                 j.get("miscompares", 0) == 0 for j in jobs),
          "verify 4 KiB on 3 bdevs, one of them with digests")
    r = app.rpc("bdev_nvme_detach_controller", "Nvme1")
    check(r.returncode == 0 and app.bdev_names() == ["Nvme0n1", "Nvme0n2"],
          "detach Nvme1: its bdevs are gone, Nvme0's remain")


def test_attach_errors(app):
    print("attach errors")
    cases = [
        ("nothing listening on " + DEAD_PORT, ("Bad0", DEAD_PORT, NQN), ["refused"]),
        ("unknown subsystem", ("Bad1", PORT, "nqn.2016-06.io.spdk:nosuch"), ["connect"]),
        ("duplicate name", ("Nvme0", PORT, NQN), ["already exists"]),
        ("port 0", ("Bad2", "0", NQN), ["trsvcid"]),
    ]
    for what, (name, port, nqn), needles in cases:
        t0 = time.time()
        r = attach(app, name, port, nqn)
        text = (r.stdout + r.stderr).lower()
        ok = r.returncode != 0 and all(n in text for n in needles) and time.time() - t0 < 15
        check(ok, "%s -> JSON-RPC error naming %s, fast" % (what, needles))
        if not ok:
            print("    got: %s" % text.strip()[-400:])
    r = app.rpc("bdev_nvme_attach_controller", "-b", "Bad3", "-t", "xyz", "-a", "127.0.0.1")
    check(r.returncode != 0 and "trtype" in (r.stdout + r.stderr),
          "trtype xyz -> error naming trtype")
    # PCIe: refused cleanly where there is no such device (no PCI bus in this daemon).
    t0 = time.time()
    r = app.rpc("bdev_nvme_attach_controller", "-b", "Pci0", "-t", "pcie", "-a", "0000:00:04.0")
    check(r.returncode != 0 and "0000:00:04.0" in r.stdout + r.stderr and time.time() - t0 < 15,
          "pcie attach without the device -> error naming the address, fast")
    r = app.rpc("bdev_nvme_attach_controller", "-b", "Pci1", "-t", "pcie", "-a", "127.0.0.1")
    check(r.returncode != 0 and "PCI address" in r.stdout + r.stderr,
          "pcie with an IP address -> error asking for a PCI address")
    r = app.rpc("bdev_nvme_attach_controller", "-b", "Pci2", "-t", "pcie", "-a", "0000:00:04.0",
                "-s", "4420")
    check(r.returncode != 0 and "do not apply to pcie" in r.stdout + r.stderr,
          "pcie with a trsvcid -> error")
    r = app.rpc("bdev_nvme_detach_controller", "Nope")
    check(r.returncode != 0 and "Nope" in r.stdout + r.stderr, "detach of an unknown name")
    ctrls = app.rpc_json("bdev_nvme_get_controllers") or []
    check([c["name"] for c in ctrls] == ["Nvme0"], "failed attaches left nothing behind")
    check(app.alive(), "bdevperf still serving")


def test_ns_hotplug(app):
    print("namespaces added and removed on the target")
    check(rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc2", "-n", "3"), "target: add nsid 3")
    check(wait_for(lambda: "Nvme0n3" in app.bdev_names(), 10), "bdev Nvme0n3 appears")
    check(rpc_ok("nvmf_subsystem_remove_ns", NQN, "3"), "target: remove nsid 3")
    check(wait_for(lambda: "Nvme0n3" not in app.bdev_names(), 10), "bdev Nvme0n3 disappears")
    check(app.bdev_names() == ["Nvme0n1", "Nvme0n2"], "the other bdevs stay")


def test_save_config(app):
    print("save_config round trip")
    cfg = app.rpc_json("save_config")
    bdev = [s for s in (cfg or {}).get("subsystems", []) if s.get("subsystem") == "bdev"]
    calls = [c for c in (bdev[0]["config"] if bdev else [])
             if c.get("method") == "bdev_nvme_attach_controller"]
    prm = calls[0]["params"] if len(calls) == 1 else {}
    check(prm.get("name") == "Nvme0" and prm.get("traddr") == "127.0.0.1" and
          prm.get("trsvcid") == PORT and prm.get("subnqn") == NQN and
          prm.get("trtype", "").lower() == "tcp",
          "save_config has one bdev_nvme_attach_controller call (%s)" % prm)
    path = os.path.join(osp_e2e.TMP, "saved.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    app2 = App("bdevperf2", "--json", path)
    check(app2.bdev_names() == ["Nvme0n1", "Nvme0n2"],
          "a new bdevperf with --json <saved config> has Nvme0n1 and Nvme0n2 (%s)"
          % app2.bdev_names())
    job_ok(app2.perform("-w", "verify", "-o", "4096", "-q", "8", secs=1),
           "verify on the rebuilt bdevs")
    check(stop_tgt(app2.p) == 0, "the second bdevperf exits 0 on SIGTERM (controller attached)")


def test_detach(app):
    print("detach")
    before = len(qpairs())
    r = app.rpc("bdev_nvme_detach_controller", "Nvme0")
    check(r.returncode == 0, "bdev_nvme_detach_controller Nvme0 (%s%s)" % (r.stdout, r.stderr))
    check(app.bdev_names() == [] and app.rpc_json("bdev_nvme_get_controllers") == [],
          "no bdevs and no controllers left")
    check(wait_for(lambda: len(qpairs()) < before, 10),
          "the target dropped the initiator's qpairs (%d -> %d)" % (before, len(qpairs())))
    r = attach(app)
    check(r.returncode == 0 and r.stdout.split() == ["Nvme0n1", "Nvme0n2"], "attach again")


def test_target_loss(p, app):
    print("target lost, then back: a reset reconnects; I/O without a target fails")
    p.kill()
    p.wait()
    check(wait_for(lambda: app.state() == "failed", 20),
          "bdev_nvme_get_controllers: state failed once the target is gone (%s)" % app.state())
    t0 = time.time()
    r = app.raw("bdev_nvme_reset_controller", {"name": "Nvme0"})
    check("error" in r and time.time() - t0 < 15,
          "bdev_nvme_reset_controller while the target is down: error (%s)" % r.get("error"))
    check(app.alive(), "bdevperf still serving")
    p2 = start_tgt()
    if not setup(p2):
        return p2
    r = app.raw("bdev_nvme_reset_controller", {"name": "Nvme0"})
    check(r.get("result") is True and app.state() == "enabled",
          "target back: bdev_nvme_reset_controller -> true, state enabled (%s)" % r)
    job_ok(app.perform("-w", "verify", "-o", "4096", "-q", "16", secs=1),
           "verify after the reset: qpairs reconnected, data checked")
    r = app.raw("bdev_nvme_reset_controller", {"name": "Nope"})
    check("Nope" in json.dumps(r.get("error")), "reset of an unknown controller: error naming it")
    # bdevperf ends itself after a run with failed I/O (as SPDK's does).
    p2.kill()
    p2.wait()
    r = subprocess.run([sys.executable, BDEVPERF_PY, "-s", app.sock, "perform_tests", "-t", "1",
                        "-w", "verify", "-o", "4096", "-q", "8"], capture_output=True, text=True,
                       timeout=min(90, time_left()))
    check(r.returncode != 0 and "failed" in (r.stdout + r.stderr),
          "verify with the target gone again: the I/O fails (%s)"
          % (r.stdout + r.stderr).strip()[-160:])
    try:
        rc = app.p.wait(min(20, time_left()))
    except subprocess.TimeoutExpired:
        rc = None
    check(rc is not None and rc > 0, "bdevperf then exits with an error status, no crash (%s)" % rc)
    return None


def body():
    p = start_tgt()
    if not setup(p):
        return
    app = App("bdevperf")
    test_attach(app)
    test_io(app)
    test_digests(app)
    test_attach_errors(app)
    test_ns_hotplug(app)
    test_save_config(app)
    test_detach(app)
    check(alive(p), "nvmf_tgt still serving")
    check(stop_tgt(app.p) == 0, "bdevperf exits 0 on SIGTERM with a controller attached")
    # Last: kills targets and ends with a bdevperf that stops itself.
    app = App("bdevperf3")
    check(attach(app).returncode == 0, "a new bdevperf attaches Nvme0")
    test_target_loss(p, app)


if __name__ == "__main__":
    if not os.access(BDEVPERF, os.X_OK):
        print("no %s: build first (make)" % BDEVPERF)
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(run(body))

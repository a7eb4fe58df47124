#!/usr/bin/env python3
"""End-to-end test of Osprey's NVMe/TCP host driver (lib/nvme) through
app/nvme_identify, against osprey_tgt's NVMe-oF TCP target on 127.0.0.1
(ports picked free at run time).

Covers: Identify Controller and the active namespaces of a subsystem with two
malloc bdevs (serial number, subsystem NQN, sizes, LBA formats and UUIDs
checked against what the target was configured with and what bdev_get_bdevs
reports), the same with header and data digests, the discovery log page from
the discovery NQN, a host missing from a subsystem's allow list refused with
the Connect status printed (and admitted with --hostnqn), an unknown
subsystem, nothing listening, and malformed transport ids. The target must
keep serving throughout. Prints "N passed, N failed" last.

Environment: OSPREY_BIN_DIR (default build/bin) picks osprey_tgt and
nvme_identify.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import *  # noqa: E402,F401,F403  (check, start_tgt, rpc, ...)

IDENTIFY = os.path.join(BIN_DIR, "nvme_identify")
PORT, DEAD_PORT = (str(p) for p in free_ports(2))   # DEAD_PORT: nothing listens there
NQN1 = "nqn.2016-06.io.osprey:identify1"
NQN2 = "nqn.2016-06.io.osprey:identify2"
HOST1 = "nqn.2014-08.org.nvmexpress:uuid:6c6f7370-7265-7900-0000-000000000001"
DISC = "nqn.2014-08.org.nvmexpress.discovery"


def trid(subnqn=None, port=PORT):
    s = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s" % port
    return s + (" subnqn:%s" % subnqn if subnqn else "")


def identify(*args):
    r = subprocess.run([IDENTIFY, *args], capture_output=True, text=True,
                       timeout=min(60, time_left()))
    return r.returncode, r.stdout, r.stderr


def field(out, label):
    """Value of 'Label:   value' lines (all of them)."""
    return [m.group(1).strip() for m in
            re.finditer(r"^%s:\s*(.*)$" % re.escape(label), out, re.M)]


def setup(p):
    ok = True
    for args in (["nvmf_create_transport", "-t", "tcp"],
                 ["bdev_malloc_create", "-b", "Malloc0", "32", "512"],
                 ["bdev_malloc_create", "-b", "Malloc1", "16", "4096"],
                 ["nvmf_create_subsystem", NQN1, "-a", "-s", "OSPSN0001", "-d", "Osprey identify"],
                 ["nvmf_subsystem_add_ns", NQN1, "Malloc0"],
                 ["nvmf_subsystem_add_ns", NQN1, "Malloc1"],
                 ["nvmf_subsystem_add_listener", NQN1, "-t", "tcp", "-a", "127.0.0.1",
                  "-s", PORT],
                 ["nvmf_create_subsystem", NQN2, "-s", "OSPSN0002"],
                 ["nvmf_subsystem_add_host", NQN2, HOST1],
                 ["nvmf_subsystem_add_listener", NQN2, "-t", "tcp", "-a", "127.0.0.1",
                  "-s", PORT],
                 ["nvmf_subsystem_add_listener", "discovery", "-t", "tcp", "-a", "127.0.0.1",
                  "-s", PORT]):
        r = rpc(*args)
        if r.returncode != 0:
            print("    rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
            ok = False
    check(ok, "target configured: TCP transport, 2 subsystems, listener on port " + PORT)
    return ok


def bdev_uuids():
    return {b["name"]: b.get("uuid", "") for b in (rpc_json("bdev_get_bdevs") or [])}


def check_identify(out, what):
    check(field(out, "Serial Number") == ["OSPSN0001"], what + ": serial number")
    check(field(out, "Subsystem NQN") == [NQN1], what + ": subsystem NQN")
    check(field(out, "Controller Type") == ["I/O Controller"], what + ": I/O controller")
    mn = field(out, "Model Number")
    check(mn == ["Osprey identify"], what + ": model number (%s)" % mn)
    cntlid = field(out, "Controller ID")
    check(len(cntlid) == 1 and int(cntlid[0]) > 0, what + ": a controller ID")
    nsids = re.findall(r"^Namespace ID:(\d+)$", out, re.M)
    check(nsids == ["1", "2"], what + ": active namespaces 1 and 2 (%s)" % nsids)
    sizes = field(out, "Size (in LBAs)")
    check(sizes == ["65536 (32MiB)", "4096 (16MiB)"], what + ": namespace sizes (%s)" % sizes)
    fmts = re.findall(r"^LBA Format #00: Data Size:\s+(\d+)", out, re.M)
    check(fmts == ["512", "4096"], what + ": LBA data sizes (%s)" % fmts)
    uu = bdev_uuids()
    want = [uu.get("Malloc0", "?").lower(), uu.get("Malloc1", "?").lower()]
    got = [u.lower() for u in field(out, "UUID")]
    check(got == want, what + ": namespace UUIDs are the bdevs' (%s vs %s)" % (got, want))


def test_identify(p):
    print("nvme_identify against an NVM subsystem")
    rc, out, err = identify("-r", trid(NQN1))
    check(rc == 0, "nvme_identify exits 0")
    if rc != 0:
        print("    stderr: " + err.strip()[:800])
    check_identify(out, "plain")

    rc, out, err = identify("-H", "-D", "-r", trid(NQN1))
    check(rc == 0, "nvme_identify -H -D (header and data digests) exits 0")
    if rc != 0:
        print("    stderr: " + err.strip()[:800])
    check_identify(out, "digests")
    # SPDK perf's letters and long names, shared with nvme_perf.
    for args in (["-H", "-I", "-k", "5000"],
                 ["--enable-tcp-hdgst", "--ddgst", "--keep-alive", "5000"]):
        rc, out, err = identify(*args, "-r", trid(NQN1))
        check(rc == 0, "nvme_identify %s exits 0" % " ".join(args))
        if rc != 0:
            print("    stderr: " + err.strip()[:800])
        check_identify(out, " ".join(args))
    check(alive(p), "target alive after identify")


def test_discovery(p):
    print("nvme_identify against the discovery NQN")
    rc, out, err = identify("-r", trid())
    check(rc == 0, "discovery: exits 0")
    if rc != 0:
        print("    stderr: " + err.strip()[:800])
    check(field(out, "Controller Type") == ["Discovery Controller"],
          "discovery: a discovery controller")
    nqns = field(out, "NVM Subsystem Qualified Name")
    check(NQN1 in nqns and NQN2 not in nqns,
          "discovery: lists %s, not %s which does not allow us (%s)" % (NQN1, NQN2, nqns))
    recs = field(out, "Number of Records")
    check(len(recs) == 1 and int(recs[0]) == len(nqns),
          "discovery: Number of Records matches the entries (%s)" % recs)
    check(all(a == "127.0.0.1" for a in field(out, "Transport Address")),
          "discovery: transport address 127.0.0.1")
    check(all(s == PORT for s in field(out, "Transport Service Identifier")),
          "discovery: service id " + PORT)
    check(all(t.startswith("3 ") for t in field(out, "Transport Type")), "discovery: TCP")
    # with the allowed host the second subsystem shows up too
    rc, out, err = identify("--hostnqn", HOST1, "-H", "-r", "trtype:tcp traddr:127.0.0.1 "
                            "trsvcid:" + PORT + " subnqn:" + DISC)
    nqns = field(out, "NVM Subsystem Qualified Name")
    check(rc == 0 and NQN2 in nqns, "discovery as %s lists %s too (%s)" % (HOST1, NQN2, nqns))


def test_refusals(p):
    print("refusals")
    rc, out, err = identify("-r", trid(NQN2))
    check(rc == 1, "host not on the allow list: exit 1")
    check("CONNECT INVALID HOST" in err and "sc 0x84" in err,
          "host not allowed: the Connect status is printed (%s)" % err.strip()[-200:])
    rc, out, err = identify("--hostnqn", HOST1, "-r", trid(NQN2))
    check(rc == 0 and field(out, "Serial Number") == ["OSPSN0002"],
          "allowed host (--hostnqn): identify works")
    rc, out, err = identify("-r", trid("nqn.2016-06.io.osprey:nosuch"))
    check(rc == 1 and "fabrics connect" in err, "unknown subsystem: exit 1, Connect refused")
    rc, out, err = identify("-r", trid(NQN1, port=DEAD_PORT))
    check(rc == 1 and "refused" in err.lower(), "nothing listening: exit 1, connection refused")
    for bad in ("trtype:TCP traddr:127.0.0.1 trsvcid:99999",
                "trtype:XYZ traddr:127.0.0.1",
                "trtype:TCP trsvcid:" + PORT,
                "trtype:TCP traddr:127.0.0.1 subnqn:not-an-nqn",
                "trtype:TCP traddr:127.0.0.1 bogus:1"):
        rc, out, err = identify("-r", bad)
        check(rc == 1 and "invalid transport id" in err, "bad trid '%s': exit 1" % bad)
    rc, out, err = identify("--hostnqn", "bad", "-r", trid(NQN1))
    check(rc == 1 and "invalid host NQN 'bad'" in err, "bad --hostnqn: exit 1, says why")
    rc, out, err = identify("-k", "10s", "-r", trid(NQN1))
    check(rc == 1 and "invalid keep alive timeout '10s'" in err, "bad -k: exit 1, says why")
    rc, out, err = identify("-r", trid(NQN1), "-r", trid(NQN1))
    check(rc == 1 and "at most 1 -r" in err, "two -r: exit 1, says why")
    rc, out, err = identify()
    check(rc == 1, "no -r: usage, exit 1")
    check(alive(p), "target alive after the refusals")


def body():
    p = start_tgt()
    if not setup(p):
        return
    test_identify(p)
    test_discovery(p)
    test_refusals(p)
    code = stop_tgt(p)
    check(code == 0, "target exits 0 on SIGTERM (%s)" % code)


if __name__ == "__main__":
    if not os.access(IDENTIFY, os.X_OK):
        print("no %s: build first (make)" % IDENTIFY)
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.exit(run(body))

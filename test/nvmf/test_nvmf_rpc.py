#!/usr/bin/env python3
"""End-to-end test of the NVMe-oF target control plane on osprey_tgt, driven
with scripts/rpc.py's SPDK command-line forms (and raw JSON-RPC for inputs
rpc.py would refuse to send).

Covers: the built-in discovery subsystem; nvmf_create_transport -t tcp and
nvmf_subsystem_add_listener -t tcp failing cleanly while this build has no TCP
transport (listeners need a created transport, as in SPDK); subsystems with
serial/model numbers, allow_any_host and host lists; namespaces with automatic
and explicit nsids; what nvmf_get_subsystems reports; bad input answered with
an error a person can act on while the daemon keeps serving; save_config ->
restart with --json -> the same subsystems; deleting a bdev removes its
namespace. Prints "N passed, N failed" last and exits non-zero on failure.
Only processes it started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the osprey_tgt to test.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
TGT = os.path.join(BIN_DIR, "osprey_tgt")
RPC = os.path.join(ROOT, "scripts", "rpc.py")
TMP = tempfile.mkdtemp(prefix="osp_nvmf_rpc_")
SOCK = os.path.join(TMP, "rpc.sock")
DEADLINE = time.time() + 420

DISC = "nqn.2014-08.org.nvmexpress.discovery"
NQN1 = "nqn.2016-06.io.spdk:cnode1"
NQN2 = "nqn.2016-06.io.spdk:cnode2"
HOST1 = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
NO_TCP = "transport TCP is not available in this build"

passed = 0
failed = 0
procs = []


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("  ok   " + what)
    else:
        failed += 1
        print("  FAIL " + what)
    sys.stdout.flush()
    return cond


def time_left():
    return max(1.0, DEADLINE - time.time())


# ---- the daemon ----

def start_tgt(*args):
    log = open(os.path.join(TMP, "tgt_%d.log" % len(procs)), "w+")
    p = subprocess.Popen([TGT, "-r", SOCK, "-m", "0x1", *args], stdout=log,
                         stderr=subprocess.STDOUT)
    p.logfile = log
    procs.append(p)
    deadline = time.time() + min(30, time_left())
    while time.time() < deadline:
        if p.poll() is not None:
            break
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(SOCK)
            s.close()
            if rpc_ok("framework_wait_init"):
                return p
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("osprey_tgt did not come up:\n" + tgt_log(p))


def tgt_log(p):
    p.logfile.flush()
    p.logfile.seek(0)
    return p.logfile.read()


def stop_tgt(p, timeout=15.0):
    """SIGTERM the daemon we started; its exit code (SIGKILL after timeout: None)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(min(timeout, time_left()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


# ---- RPC helpers ----

def rpc(*args):
    return subprocess.run([sys.executable, RPC, "-s", SOCK, "-t", "20", *args],
                          capture_output=True, text=True, timeout=min(60, time_left()))


def rpc_ok(*args):
    return rpc(*args).returncode == 0


def rpc_run(what, *args):
    r = rpc(*args)
    if not check(r.returncode == 0, what):
        print("    rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.returncode == 0


def rpc_json(*args):
    r = rpc(*args)
    if r.returncode != 0:
        print("    rpc.py %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return None
    return json.loads(r.stdout) if r.stdout.strip() else None


def raw_call(method, params=None):
    """One JSON-RPC request on a fresh connection; returns the response object."""
    req = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        req["params"] = params
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(min(20, time_left()))
    s.connect(SOCK)
    s.sendall(json.dumps(req).encode())
    buf = b""
    dec = json.JSONDecoder()
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            try:
                obj, _ = dec.raw_decode(buf.decode().lstrip())
                return obj
            except ValueError:
                continue
    finally:
        s.close()
    return {}


def alive(p):
    return p.poll() is None and rpc_ok("spdk_get_version")


def check_error(p, what, args, *needles, raw=None):
    """args (an rpc.py command) or raw (method, params) must fail with a message
    holding every needle (case-insensitive); the daemon must still answer."""
    if raw is not None:
        resp = raw_call(*raw)
        err = resp.get("error")
        text = json.dumps(err) if err else ""
        failed_ok = err is not None
    else:
        r = rpc(*args)
        text = r.stdout + r.stderr
        failed_ok = r.returncode != 0
    low = text.lower()
    missing = [n for n in needles if n.lower() not in low]
    ok = failed_ok and not missing
    check(ok, "%s -> error naming %s" % (what, ", ".join(repr(n) for n in needles)))
    if not ok:
        print("    got: %s" % text.strip().replace("\n", " ")[:400])
    check(alive(p), "  daemon still serving after: %s" % what)


def subsystems():
    """nqn -> nvmf_get_subsystems entry."""
    return {s["nqn"]: s for s in (rpc_json("nvmf_get_subsystems") or [])}


# ---- the tests ----

def test_empty_target(p):
    print("a fresh target")
    subs = subsystems()
    check(list(subs) == [DISC], "only the discovery subsystem exists (%s)" % list(subs))
    d = subs.get(DISC, {})
    check(d.get("subtype") == "Discovery" and d.get("allow_any_host") is True and
          d.get("listen_addresses") == [] and d.get("hosts") == [],
          "discovery subsystem: subtype Discovery, allow_any_host, no listeners")
    check(rpc_json("nvmf_get_transports") == [], "nvmf_get_transports: []")
    stats = rpc_json("nvmf_get_stats") or {}
    check(stats.get("poll_groups") == [] and stats.get("tick_rate", 0) > 0,
          "nvmf_get_stats: tick_rate and no poll groups yet")
    check_error(p, "nvmf_create_transport -t tcp (no TCP in this build)",
                ["nvmf_create_transport", "-t", "tcp"], NO_TCP)
    check(rpc_json("nvmf_get_transports") == [], "still no transport")


def test_build(p):
    print("subsystems, namespaces, hosts")
    check(rpc(*"bdev_malloc_create -b Malloc0 32 512".split()).stdout.strip() == "Malloc0",
          "bdev_malloc_create -b Malloc0")
    check(rpc(*"bdev_malloc_create -b Malloc1 16 4096".split()).stdout.strip() == "Malloc1",
          "bdev_malloc_create -b Malloc1")
    rpc_run("nvmf_create_subsystem %s -a -s SPDK00000000000001 -d 'Osprey Model'" % NQN1,
            "nvmf_create_subsystem", NQN1, "-a", "-s", "SPDK00000000000001", "-d",
            "Osprey Model")
    rpc_run("nvmf_create_subsystem %s -s SN2 -m 4" % NQN2,
            "nvmf_create_subsystem", NQN2, "-s", "SN2", "-m", "4")
    rpc_run("nvmf_subsystem_add_ns %s Malloc0" % NQN1, "nvmf_subsystem_add_ns", NQN1, "Malloc0")
    r = raw_call("nvmf_subsystem_add_ns", {"nqn": NQN1, "namespace":
                                           {"bdev_name": "Malloc1", "nsid": 5,
                                            "nguid": "00112233445566778899AABBCCDDEEFF",
                                            "eui64": "0102030405060708"}})
    check(r.get("result") == 5, "nvmf_subsystem_add_ns with nsid 5 answers 5 (%s)" % r)
    r = raw_call("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Malloc1"}})
    check(r.get("result") == 1, "nvmf_subsystem_add_ns without nsid answers the lowest free "
          "nsid, 1 (%s)" % r)
    rpc_run("nvmf_subsystem_add_host %s HOST1" % NQN2, "nvmf_subsystem_add_host", NQN2, HOST1)

    # Listeners need a created transport (as in SPDK); there is none for TCP yet.
    check_error(p, "nvmf_subsystem_add_listener -t tcp before a TCP transport exists",
                ["nvmf_subsystem_add_listener", NQN1, "-t", "tcp", "-f", "ipv4", "-a",
                 "127.0.0.1", "-s", "4420"], NO_TCP)

    subs = subsystems()
    s1, s2 = subs.get(NQN1, {}), subs.get(NQN2, {})
    check(s1.get("subtype") == "NVMe" and s1.get("serial_number") == "SPDK00000000000001" and
          s1.get("model_number") == "Osprey Model" and s1.get("allow_any_host") is True,
          "cnode1: subtype, serial_number, model_number, allow_any_host")
    ns = {n["nsid"]: n for n in s1.get("namespaces", [])}
    check(sorted(ns) == [1, 5] and ns[1].get("bdev_name") == "Malloc0" and
          ns[5].get("bdev_name") == "Malloc1", "cnode1 namespaces 1=Malloc0, 5=Malloc1")
    check(ns.get(5, {}).get("nguid") == "00112233445566778899AABBCCDDEEFF" and
          ns.get(5, {}).get("eui64") == "0102030405060708", "nguid and eui64 reported")
    bdev_uuid = (rpc_json("bdev_get_bdevs", "-b", "Malloc0") or [{}])[0].get("uuid")
    check(ns.get(1, {}).get("uuid") == bdev_uuid and bdev_uuid,
          "namespace uuid defaults to the bdev's (%s)" % bdev_uuid)
    check(s2.get("allow_any_host") is False and s2.get("hosts") == [{"nqn": HOST1}] and
          s2.get("max_namespaces") == 4 and s2.get("serial_number") == "SN2",
          "cnode2: host list, max_namespaces 4")
    check(s1.get("listen_addresses") == [], "no listener was recorded")
    one = rpc_json("nvmf_get_subsystems", NQN2) or []
    check(len(one) == 1 and one[0].get("nqn") == NQN2, "nvmf_get_subsystems NQN shows one")
    for what in ("listeners", "controllers", "qpairs"):
        check(rpc_json("nvmf_subsystem_get_" + what, NQN1) == [],
              "nvmf_subsystem_get_%s: []" % what)

    rpc_run("nvmf_subsystem_allow_any_host -e", "nvmf_subsystem_allow_any_host", NQN2, "-e")
    check(subsystems().get(NQN2, {}).get("allow_any_host") is True, "allow_any_host now true")
    rpc_run("nvmf_subsystem_allow_any_host -d", "nvmf_subsystem_allow_any_host", NQN2, "-d")
    check(subsystems().get(NQN2, {}).get("allow_any_host") is False, "allow_any_host false")


def test_bad_input(p):
    print("bad input")
    check_error(p, "duplicate NQN", ["nvmf_create_subsystem", NQN1], "already exists")
    check_error(p, "bad NQN (month 13)", ["nvmf_create_subsystem",
                                          "nqn.2016-13.io.spdk:x"], "nqn.yyyy-mm")
    check_error(p, "NQN without nqn. prefix", ["nvmf_create_subsystem", "iqn.2016-06.io:x"],
                "does not start with 'nqn.'")
    check_error(p, "NQN over 223 bytes", ["nvmf_create_subsystem",
                                          "nqn.2016-06.io.spdk:" + "x" * 210], "223")
    check_error(p, "the discovery NQN", ["nvmf_create_subsystem", DISC], "discovery")
    check_error(p, "serial number of 21 characters",
                ["nvmf_create_subsystem", "nqn.2016-06.io.spdk:sn", "-s", "S" * 21],
                "serial_number", "20")
    check_error(p, "model number of 41 characters",
                ["nvmf_create_subsystem", "nqn.2016-06.io.spdk:mn", "-d", "M" * 41],
                "model_number", "40")
    check_error(p, "unknown bdev", ["nvmf_subsystem_add_ns", NQN1, "Nope0"], "Nope0")
    check_error(p, "nsid in use", ["nvmf_subsystem_add_ns", NQN1, "Malloc1", "-n", "5"],
                "nsid 5", "already in use", "Malloc1")
    check_error(p, "the same bdev twice in a subsystem",
                ["nvmf_subsystem_add_ns", NQN1, "Malloc0"], "Malloc0", "already namespace 1")
    check_error(p, "nsid above max_namespaces",
                ["nvmf_subsystem_add_ns", NQN2, "Malloc0", "-n", "5"], "max_namespaces")
    check_error(p, "bad nguid", ["nvmf_subsystem_add_ns", NQN1, "Malloc0", "-g", "xyz"],
                "nguid")
    check_error(p, "unknown subsystem", ["nvmf_subsystem_add_ns",
                                         "nqn.2016-06.io.spdk:none", "Malloc0"],
                "No subsystem", "nqn.2016-06.io.spdk:none")
    check_error(p, "remove a missing nsid", ["nvmf_subsystem_remove_ns", NQN1, "7"],
                "no namespace 7")
    check_error(p, "remove a host not listed", ["nvmf_subsystem_remove_host", NQN1, HOST1],
                "not on the allow list")
    check_error(p, "add a host with a bad NQN", ["nvmf_subsystem_add_host", NQN2, "host1"],
                "host1")
    check_error(p, "add the same host twice", ["nvmf_subsystem_add_host", NQN2, HOST1],
                "already allowed")
    check_error(p, "delete the discovery subsystem", ["nvmf_delete_subsystem", DISC],
                "discovery")
    check_error(p, "delete a missing subsystem",
                ["nvmf_delete_subsystem", "nqn.2016-06.io.spdk:none"], "No subsystem")
    check_error(p, "listener with a bad address", None, "traddr", "256.1.1.1",
                raw=("nvmf_subsystem_add_listener",
                     {"nqn": NQN1, "listen_address": {"trtype": "tcp", "adrfam": "ipv4",
                                                      "traddr": "256.1.1.1",
                                                      "trsvcid": "4420"}}))
    check_error(p, "listener with an unknown trtype", None, "trtype",
                raw=("nvmf_subsystem_add_listener",
                     {"nqn": NQN1, "listen_address": {"trtype": "pigeon",
                                                      "traddr": "1.2.3.4"}}))
    check_error(p, "add_ns without a namespace", None, "namespace",
                raw=("nvmf_subsystem_add_ns", {"nqn": NQN1}))
    check_error(p, "create_subsystem with an unknown parameter", None, "colour",
                raw=("nvmf_create_subsystem", {"nqn": "nqn.2016-06.io.spdk:x", "colour": 1}))
    check_error(p, "max_namespaces of the wrong type", None, "max_namespaces",
                raw=("nvmf_create_subsystem", {"nqn": "nqn.2016-06.io.spdk:x",
                                               "max_namespaces": "many"}))
    check_error(p, "create_transport without trtype", None, "trtype",
                raw=("nvmf_create_transport", {}))
    check(NQN1 in subsystems() and "nqn.2016-06.io.spdk:x" not in subsystems(),
          "failed calls changed nothing")


def test_save_restart(p):
    print("save_config -> restart with --json -> the same")
    before = subsystems()
    cfg = rpc_json("save_config")
    nvmf = [s for s in (cfg or {}).get("subsystems", []) if s.get("subsystem") == "nvmf"]
    check(len(nvmf) == 1, "save_config has an nvmf entry")
    methods = [c["method"] for c in (nvmf[0]["config"] if nvmf else [])]
    check(methods.count("nvmf_create_subsystem") == 2 and
          methods.count("nvmf_subsystem_add_ns") == 3 and
          methods.count("nvmf_subsystem_add_host") == 1,
          "nvmf config: 2 subsystems, 3 namespaces, 1 host (%s)" % methods)
    names = [s.get("subsystem") for s in (cfg or {}).get("subsystems", [])]
    check("bdev" in names and "nvmf" in names and names.index("bdev") < names.index("nvmf"),
          "bdev comes before nvmf in the saved config")
    path = os.path.join(TMP, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc = stop_tgt(p)
    check(rc == 0, "osprey_tgt exits 0 on SIGTERM (%s)" % rc)
    p = start_tgt("--json", path)
    after = subsystems()
    check(after == before, "same subsystems after the restart")
    if after != before:
        print("    before: %s\n    after:  %s" % (json.dumps(before), json.dumps(after)))
    return p


def test_hot_remove(p):
    print("deleting a bdev removes its namespaces")
    rpc_run("bdev_malloc_delete Malloc1", "bdev_malloc_delete", "Malloc1")
    ok = False
    deadline = time.time() + 10
    while time.time() < deadline and not ok:
        subs = subsystems()
        ok = ([n["nsid"] for n in subs.get(NQN1, {}).get("namespaces", [])] == [1] and
              subs.get(NQN2, {}).get("namespaces") == [])
        time.sleep(0.05)
    check(ok, "namespace 5 of cnode1 and 1 of cnode2 are gone, nsid 1 of cnode1 stays")
    r = raw_call("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Malloc0"}})
    check(r.get("result") == 1, "nsid 1 of cnode2 can be reused (%s)" % r)
    rpc_run("nvmf_subsystem_remove_ns cnode1 1", "nvmf_subsystem_remove_ns", NQN1, "1")
    check(subsystems().get(NQN1, {}).get("namespaces") == [], "cnode1 has no namespace")
    rpc_run("nvmf_subsystem_remove_host", "nvmf_subsystem_remove_host", NQN2, HOST1)
    check(subsystems().get(NQN2, {}).get("hosts") == [], "cnode2 has no host")
    rpc_run("nvmf_delete_subsystem cnode1", "nvmf_delete_subsystem", NQN1)
    rpc_run("nvmf_delete_subsystem cnode2", "nvmf_delete_subsystem", NQN2)
    check(list(subsystems()) == [DISC], "only the discovery subsystem is left")
    # The bdev is free again once no namespace holds it.
    rpc_run("bdev_malloc_delete Malloc0", "bdev_malloc_delete", "Malloc0")


def main():
    if not os.path.exists(TGT):
        print("missing %s: build first" % TGT)
        return 1
    p = None
    try:
        p = start_tgt()
        test_empty_target(p)
        test_build(p)
        test_bad_input(p)
        p = test_save_restart(p)
        test_hot_remove(p)
        rc = stop_tgt(p)
        check(rc == 0, "osprey_tgt exits 0 at the end (%s)" % rc)
    except Exception as e:  # report, then clean up
        check(False, "unexpected exception: %r" % e)
        if p is not None:
            print(tgt_log(p)[-3000:])
    finally:
        for q in procs:
            if q.poll() is None:
                stop_tgt(q, 5)
        if failed:
            for i, q in enumerate(procs):
                print("---- osprey_tgt log %d ----" % i)
                print(tgt_log(q)[-2000:])
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

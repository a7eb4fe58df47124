#!/usr/bin/env python3
"""End-to-end test of the iSCSI target's control plane on iscsi_tgt, driven
with scripts/rpc.py's SPDK command-line forms (and raw JSON-RPC for inputs
rpc.py would refuse to send), checked from the wire with libiscsi's iscsi-ls
and iscsi-inq.

Covers: iscsi_set_options at start-up (--wait-for-rpc) and its refusal later;
iscsi_get_options with SPDK's fields and defaults; portal groups (several
portals, --private, --wait + iscsi_start_portal_group), initiator groups (ANY,
names, netmasks, add/remove), CHAP auth groups and secrets, target nodes (LUN
maps, pg/ig maps, CHAP settings, digests, node_base prefix), add_lun,
add/remove pg_ig_maps, set_auth, set_discovery_auth, scsi_get_devices, every
get_* output compared field by field with SPDK's documented shape; bad input
of every class answered with a JSON-RPC error whose message names what to
fix while the daemon keeps serving; logins: a created target is reachable, an
unmapped initiator is not, CHAP one-way and mutual with right / wrong /
missing secrets, a deleted target is gone; iscsi_get_connections /
iscsi_get_stats during a session; save_config -> restart with --json and
load_config into a --wait-for-rpc daemon rebuild the same configuration.
Prints "N passed, N failed" last; exits non-zero on failure. Only processes
it started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the iscsi_tgt to test.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import osp_e2e  # noqa: E402
from osp_e2e import *  # noqa: E402,F401,F403  (check, rpc, raw_call, ...)

ISCSI_TGT = os.path.join(BIN_DIR, "iscsi_tgt")
osp_e2e.TGT = ISCSI_TGT          # what run() checks for and names
BASE = "iqn.2016-06.io.spdk"     # SPDK's default node_base
DISK1 = BASE + ":disk1"
DISK2 = BASE + ":disk2"          # CHAP required (auth group 1)
DISK3 = BASE + ":disk3"          # initiator group 2 only, HeaderDigest required
DISK4 = BASE + ":disk4"          # mutual CHAP
HOST1 = BASE + ":host1"
HOST2 = BASE + ":host2"
STRANGER = "iqn.2026-12.com.example:stranger"
PORT1, PORT2, PORT3 = (str(p) for p in free_ports(3))
INQ_TIMEOUT = 20

# SPDK's documented iscsi_get_options fields, their types, and the defaults
# its docs give (those Osprey is asked to keep).
OPTION_TYPES = {
    "node_base": str, "nop_timeout": int, "nop_in_interval": int, "disable_chap": bool,
    "require_chap": bool, "mutual_chap": bool, "chap_group": int, "max_sessions": int,
    "max_queue_depth": int, "max_connections_per_session": int, "default_time2wait": int,
    "default_time2retain": int, "first_burst_length": int, "immediate_data": bool,
    "error_recovery_level": int, "allow_duplicated_isid": bool,
    "max_large_datain_per_connection": int, "max_r2t_per_connection": int,
}
OPTION_DEFAULTS = {
    "node_base": BASE, "nop_timeout": 60, "nop_in_interval": 30, "disable_chap": False,
    "require_chap": False, "mutual_chap": False, "chap_group": 0, "max_sessions": 128,
    "max_queue_depth": 64, "max_connections_per_session": 2, "default_time2wait": 2,
    "default_time2retain": 20, "first_burst_length": 8192, "immediate_data": True,
    "error_recovery_level": 0, "allow_duplicated_isid": False,
    "max_large_datain_per_connection": 64, "max_r2t_per_connection": 4,
}
NODE_FIELDS = ["name", "alias_name", "pg_ig_maps", "luns", "queue_depth", "disable_chap",
               "require_chap", "mutual_chap", "chap_group", "header_digest", "data_digest"]


# ---- the daemon ----

def start_iscsi(*args, wait_init=True):
    """Start iscsi_tgt -m 0x1 on SOCK (a daemon of ours, stopped by PID); return
    when its RPC server answers (and, unless wait_init is False, when its
    configuration is loaded)."""
    log = open(os.path.join(TMP, "iscsi_tgt_%d.log" % len(procs)), "w+", errors="replace")
    try:
        os.unlink(SOCK)   # a socket file left by the previous daemon
    except OSError:
        pass
    p = subprocess.Popen([ISCSI_TGT, "-r", SOCK, "-m", "0x1", *args], stdout=log,
                         stderr=subprocess.STDOUT)
    p.logfile = log
    procs.append(p)
    probe = "framework_wait_init" if wait_init else "spdk_get_version"
    deadline = time.time() + min(30, time_left())
    while time.time() < deadline and p.poll() is None:
        if os.path.exists(SOCK) and rpc_ok(probe):
            return p
        time.sleep(0.05)
    raise RuntimeError("iscsi_tgt did not come up:\n" + tgt_log(p))


def registered():
    return set(rpc_json("rpc_get_methods") or [])


# ---- RPC helpers ----

def ok(what, *args):
    """An rpc.py command line that must succeed; its stdout."""
    r = rpc(*args)
    if not check(r.returncode == 0, what):
        print("    rpc.py %s:\n    %s%s" % (" ".join(args), r.stdout, r.stderr.strip()[-600:]))
    return r.stdout


def raw_ok(what, method, params):
    resp = raw_call(method, params)
    if not check("error" not in resp and "result" in resp, what):
        print("    %s %s -> %s" % (method, json.dumps(params), json.dumps(resp)[:500]))
    return resp.get("result")


def _matches(text, needles):
    """Every needle must be in text; a needle that is a tuple is a set of alternatives."""
    low = text.lower()
    missing = []
    for n in needles:
        alts = n if isinstance(n, tuple) else (n,)
        if not any(a.lower() in low for a in alts):
            missing.append("/".join(alts))
    return missing


UNDO = {"iscsi_create_portal_group": ("iscsi_delete_portal_group", "tag"),
        "iscsi_create_initiator_group": ("iscsi_delete_initiator_group", "tag"),
        "iscsi_create_auth_group": ("iscsi_delete_auth_group", "tag"),
        "iscsi_create_target_node": ("iscsi_delete_target_node", "name")}


def bad(p, what, method, params, *needles, code=-32602):
    """A raw request that must be answered with a JSON-RPC error (of `code`, when
    given) whose message names every needle; the daemon must keep serving. A
    create wrongly accepted is undone, so that it does not mask the next check."""
    resp = raw_call(method, params)
    if "result" in resp and method in UNDO and isinstance(params, dict):
        undo, key = UNDO[method]
        name = params.get(key)
        if key == "name" and isinstance(name, str) and not name.startswith(
                ("iqn.", "eui.", "naa.")):
            name = BASE + ":" + name
        raw_call(undo, {key: name})
    err = resp.get("error")
    msg = err.get("message", "") if isinstance(err, dict) else ""
    missing = _matches(msg, needles)
    code_ok = code is None or (isinstance(err, dict) and err.get("code") == code)
    good = err is not None and code_ok and not missing and len(msg) >= 8
    check(good, "%s -> error%s naming %s" % (what, " %d" % code if code else "",
                                             ", ".join("/".join(n) if isinstance(n, tuple)
                                                       else repr(n) for n in needles)))
    if not good:
        print("    request: %s %s" % (method, json.dumps(params)[:300]))
        print("    got:     %s" % json.dumps(resp)[:400])
    if not alive(p):
        check(False, "  the daemon died after: %s" % what)
        raise RuntimeError("iscsi_tgt died after: %s\n%s" % (what, tgt_log(p)[-3000:]))
    return resp


def bad_cli(p, what, args, *needles):
    """An rpc.py command line that must fail with a message naming every needle."""
    r = rpc(*args)
    text = r.stdout + r.stderr
    missing = _matches(text, needles)
    good = r.returncode != 0 and not missing
    check(good, "%s -> rpc.py fails naming %s" % (what, ", ".join(
        "/".join(n) if isinstance(n, tuple) else repr(n) for n in needles)))
    if not good:
        print("    rpc.py %s\n    got (rc %d): %s" % (" ".join(args), r.returncode,
                                                      text.strip().replace("\n", " ")[:400]))
    if not alive(p):
        raise RuntimeError("iscsi_tgt died after: %s\n%s" % (what, tgt_log(p)[-3000:]))


def by_tag(method):
    return {g.get("tag"): g for g in (rpc_json(method) or [])}


def nodes():
    return {n.get("name"): n for n in (rpc_json("iscsi_get_target_nodes") or [])}


def wait_until(cond, timeout=10.0):
    deadline = time.time() + min(timeout, time_left())
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


# ---- the initiator side: libiscsi's tools ----

def url(target=None, lun=0, port=PORT1, user=None, secret=None, tuser=None, tsecret=None):
    cred = ""
    if user is not None:
        cred = "%s%%%s@" % (user, secret)
    u = "iscsi://%s127.0.0.1:%s" % (cred, port)
    if target is not None:
        u += "/%s/%d" % (target, lun)
    if tuser is not None:
        u += "?target_user=%s&target_password=%s" % (tuser, tsecret)
    return u


def run_tool(*args):
    try:
        r = subprocess.run(list(args), capture_output=True, text=True,
                           timeout=min(INQ_TIMEOUT, time_left()))
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % INQ_TIMEOUT


def inq(target, initiator=HOST1, **kw):
    """iscsi-inq (standard INQUIRY on a LUN): (exit code, output)."""
    return run_tool("iscsi-inq", "-i", initiator, url(target, **kw))


def discover(initiator=HOST1, **kw):
    """iscsi-ls: the target names SendTargets gives this initiator, or None on failure."""
    rc, out = run_tool("iscsi-ls", "-i", initiator, url(**kw))
    if rc != 0:
        return None
    return sorted(line.split()[0].split(",")[0][len("Target:"):]
                  for line in out.splitlines() if line.startswith("Target:"))


def reachable(what, target, want, initiator=HOST1, **kw):
    rc, out = inq(target, initiator, **kw)
    good = (rc == 0 and "Vendor:" in out) if want else rc not in (0, None)
    check(good, "%s: %s" % (what, "iscsi-inq logs in and reads INQUIRY data" if want
                            else "iscsi-inq is refused"))
    if not good:
        print("    %s (rc %s): %s" % (url(target, **kw), rc, out.strip()[-400:]))


# ---- the tests ----

def test_startup_options():
    print("iscsi_set_options at start-up (--wait-for-rpc)")
    p = start_iscsi("--wait-for-rpc", wait_init=False)
    ok("iscsi_set_options -q 128 -c 4 -a 64 -x 32 -k 8 -o 20 -n 10 -w 3 -v 30 -s 16384 -i",
       "iscsi_set_options", "-q", "128", "-c", "4", "-a", "64", "-x", "32", "-k", "8",
       "-o", "20", "-n", "10", "-w", "3", "-v", "30", "-s", "16384", "-i")
    r = raw_call("iscsi_set_options", {"max_queue_depth": 128})
    check("error" in r, "a second iscsi_set_options is refused (SPDK: called only once) (%s)"
          % json.dumps(r)[:200])
    ok("framework_start_init", "framework_start_init")
    ok("framework_wait_init", "framework_wait_init")
    opts = rpc_json("iscsi_get_options") or {}
    want = {"max_queue_depth": 128, "max_connections_per_session": 4, "max_sessions": 64,
            "max_large_datain_per_connection": 32, "max_r2t_per_connection": 8,
            "nop_timeout": 20, "nop_in_interval": 10, "default_time2wait": 3,
            "default_time2retain": 30, "first_burst_length": 16384, "immediate_data": True}
    got = {k: opts.get(k) for k in want}
    check(got == want, "iscsi_get_options shows what iscsi_set_options set (%s)" % got)
    bad(p, "iscsi_set_options after start-up", "iscsi_set_options", {"max_queue_depth": 16},
        ("start", "init", "state"), code=-1)
    rc = stop_tgt(p)
    check(rc == 0, "iscsi_tgt exits 0 on SIGTERM (%s)" % rc)
    print("iscsi_set_options: bad values")
    p = start_iscsi("--wait-for-rpc", wait_init=False)
    for params, needles in (
            ({"max_queue_depth": 0}, ("max_queue_depth",)),
            ({"max_sessions": 0}, ("max_sessions",)),
            ({"max_connections_per_session": 0}, ("max_connections_per_session",)),
            ({"first_burst_length": 100}, ("first_burst_length",)),     # RFC: >= 512
            ({"default_time2wait": 3601}, ("default_time2wait",)),      # RFC: 0..3600
            ({"default_time2retain": 3601}, ("default_time2retain",)),
            ({"error_recovery_level": 3}, ("error_recovery_level",)),   # RFC: 0..2
            ({"node_base": "iqn.2016-06.io.spdk bad"}, ("node_base",)),
            ({"disable_chap": True, "require_chap": True}, ("disable_chap", "require_chap")),
            ({"max_queue_depth": "many"}, ("max_queue_depth",)),
            ({"colour": 1}, ("colour",))):
        bad(p, "iscsi_set_options %s" % json.dumps(params), "iscsi_set_options", params,
            *needles)
    ok("framework_start_init after refused options", "framework_start_init")
    opts = rpc_json("iscsi_get_options") or {}
    check(opts.get("max_queue_depth") == 64, "refused options changed nothing (%s)"
          % opts.get("max_queue_depth"))
    stop_tgt(p)


def test_auth_file():
    print("iscsi_set_options -f: auth groups from SPDK's secrets file")
    path = os.path.join(TMP, "auth.conf")
    with open(path, "w") as f:
        f.write('[AuthGroup7]\n  Comment "from the file"\n'
                '  Auth "fu1" "fs1-secret-01" "fmu1" "fms1-secret-1"\n'
                '  Auth "fu2" "fs2-secret-02"\n')
    port = str(free_port())
    p = start_iscsi("--wait-for-rpc", wait_init=False)
    ok("iscsi_set_options -f auth.conf", "iscsi_set_options", "-f", path)
    ok("framework_start_init", "framework_start_init")
    ok("framework_wait_init", "framework_wait_init")
    check((rpc_json("iscsi_get_options") or {}).get("auth_file") == path,
          "iscsi_get_options: auth_file")
    ags = rpc_json("iscsi_get_auth_groups")
    check(ags == [{"tag": 7, "secrets": [
        {"user": "fu1", "secret": "fs1-secret-01", "muser": "fmu1", "msecret": "fms1-secret-1"},
        {"user": "fu2", "secret": "fs2-secret-02"}]}],
        "the file's [AuthGroup7] is auth group 7 with both secrets (%s)" % ags)
    ok("bdev_malloc_create -b Malloc0 8 512", "bdev_malloc_create", "-b", "Malloc0", "8", "512")
    ok("iscsi_create_portal_group 1", "iscsi_create_portal_group", "1", "127.0.0.1:" + port)
    ok("iscsi_create_initiator_group 1 ANY ANY", "iscsi_create_initiator_group", "1", "ANY",
       "ANY")
    ok("iscsi_create_target_node fdisk ... -r -g 7", "iscsi_create_target_node", "fdisk", "f",
       "Malloc0:0", "1:1", "8", "-r", "-g", "7")
    target = BASE + ":fdisk"
    reachable("CHAP with a secret from the file", target, True, port=port, user="fu2",
              secret="fs2-secret-02")
    reachable("CHAP with a wrong secret", target, False, port=port, user="fu2",
              secret="fs1-secret-01")
    cfg = rpc_json("save_config") or {}
    entries = [c for s in cfg.get("subsystems", []) if s.get("subsystem") == "iscsi"
               for c in s.get("config") or []]
    opts = [c.get("params", {}) for c in entries if c.get("method") == "iscsi_set_options"]
    check(len(opts) == 1 and opts[0].get("auth_file") == path,
          "save_config keeps auth_file in iscsi_set_options")
    check(not [c for c in entries if c.get("method") == "iscsi_create_auth_group"],
          "save_config does not write the file's groups again (reloading would clash)")
    cpath = os.path.join(TMP, "config_auth.json")
    with open(cpath, "w") as f:
        json.dump(cfg, f)
    stop_tgt(p)
    p = start_iscsi("--json", cpath)
    check(rpc_json("iscsi_get_auth_groups") == ags, "after --json: the same auth groups")
    reachable("CHAP with the file's secret after the restart", target, True, port=port,
              user="fu1", secret="fs1-secret-01")
    stop_tgt(p)

    print("iscsi_set_options -f: a file that cannot be used")
    for what, text in (("a missing file", None),
                       ("an Auth line outside a group", 'Auth "u" "s"\n'),
                       ("a mutual user without its secret",
                        '[AuthGroup1]\n  Auth "u" "s" "mu"\n')):
        bpath = os.path.join(TMP, "bad_auth.conf")
        if text is None:
            bpath = os.path.join(TMP, "no_such_auth.conf")
        else:
            with open(bpath, "w") as f:
                f.write(text)
        p = start_iscsi("--wait-for-rpc", wait_init=False)
        r1 = raw_call("iscsi_set_options", {"auth_file": bpath})
        r2 = raw_call("framework_start_init") if "error" not in r1 else {}
        time.sleep(0.3)
        log = tgt_log(p)
        said = os.path.basename(bpath) in json.dumps(r1) + json.dumps(r2) + log
        refused = "error" in r1 or "error" in r2 or p.poll() not in (None, 0)
        check(refused and said, "%s: refused, naming the file (set_options: %s, start_init: "
              "%s, exit %s)" % (what, json.dumps(r1)[:150], json.dumps(r2)[:150], p.poll()))
        stop_tgt(p)
        check(not any(k in tgt_log(p) for k in ("AddressSanitizer", "runtime error:")),
              "  %s: no sanitizer report" % what)


def test_fresh(p):
    print("a fresh iscsi_tgt")
    opts = rpc_json("iscsi_get_options") or {}
    wrong = {k: opts.get(k) for k, t in OPTION_TYPES.items()
             if type(opts.get(k)) is not t}   # noqa: E721  (bool is not int here)
    check(not wrong, "iscsi_get_options has SPDK's fields with their types (wrong/missing: %s)"
          % wrong)
    diff = {k: (opts.get(k), v) for k, v in OPTION_DEFAULTS.items() if opts.get(k) != v}
    check(not diff, "iscsi_get_options: SPDK's defaults (got, want: %s)" % diff)
    for method in ("iscsi_get_portal_groups", "iscsi_get_initiator_groups",
                   "iscsi_get_target_nodes", "iscsi_get_auth_groups", "iscsi_get_connections"):
        got = rpc_json(method)
        check(got == [], "%s: [] (%s)" % (method, got))
    stats = rpc_json("iscsi_get_stats")
    check(stats == {"invalid": 0, "running": 0, "exiting": 0, "exited": 0},
          "iscsi_get_stats: invalid/running/exiting/exited all 0 (%s)" % stats)
    missing = sorted({"iscsi_set_options", "iscsi_get_options", "iscsi_create_portal_group",
                      "iscsi_delete_portal_group", "iscsi_get_portal_groups",
                      "iscsi_start_portal_group", "iscsi_create_initiator_group",
                      "iscsi_delete_initiator_group", "iscsi_initiator_group_add_initiators",
                      "iscsi_initiator_group_remove_initiators", "iscsi_get_initiator_groups",
                      "iscsi_create_target_node", "iscsi_delete_target_node",
                      "iscsi_get_target_nodes", "iscsi_target_node_add_lun",
                      "iscsi_target_node_add_pg_ig_maps", "iscsi_target_node_remove_pg_ig_maps",
                      "iscsi_target_node_set_auth", "iscsi_create_auth_group",
                      "iscsi_delete_auth_group", "iscsi_auth_group_add_secret",
                      "iscsi_auth_group_remove_secret", "iscsi_get_auth_groups",
                      "iscsi_set_discovery_auth", "iscsi_get_connections",
                      "iscsi_get_stats"} - registered())
    check(not missing, "every iSCSI method of the issue is registered (missing: %s)" % missing)


def test_build(p):
    print("portal groups, initiator groups, auth groups, target nodes")
    for name, size, bs in (("Malloc0", "32", "512"), ("Malloc1", "16", "4096"),
                           ("Malloc2", "8", "512"), ("Malloc3", "8", "512"),
                           ("Malloc4", "8", "512")):
        check(rpc("bdev_malloc_create", "-b", name, size, bs).stdout.strip() == name,
              "bdev_malloc_create -b %s %s %s" % (name, size, bs))

    ok("iscsi_create_portal_group 1 127.0.0.1:PORT1", "iscsi_create_portal_group", "1",
       "127.0.0.1:" + PORT1)
    ok("iscsi_create_portal_group 2 '127.0.0.1:PORT2 127.0.0.1:PORT3' -p -w",
       "iscsi_create_portal_group", "2", "127.0.0.1:%s 127.0.0.1:%s" % (PORT2, PORT3),
       "-p", "-w")
    pgs = by_tag("iscsi_get_portal_groups")
    check(pgs.get(1) == {"tag": 1, "private": False,
                         "portals": [{"host": "127.0.0.1", "port": PORT1}]},
          "iscsi_get_portal_groups: {tag 1, private false, portals [{host, port (a string)}]} "
          "(%s)" % pgs.get(1))
    check(pgs.get(2) == {"tag": 2, "private": True,
                         "portals": [{"host": "127.0.0.1", "port": PORT2},
                                     {"host": "127.0.0.1", "port": PORT3}]},
          "portal group 2: private, both portals in order (%s)" % pgs.get(2))

    def listening(port):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", int(port)))
            return True
        except OSError:
            return False
        finally:
            s.close()
    check(listening(PORT1), "portal group 1 listens on its port")
    check(not listening(PORT2) and not listening(PORT3),
          "portal group 2 (--wait) does not listen yet")
    ok("iscsi_start_portal_group 2", "iscsi_start_portal_group", "2")
    check(wait_until(lambda: listening(PORT2) and listening(PORT3), 5),
          "after iscsi_start_portal_group 2 both its portals listen")
    ok("iscsi_start_portal_group 2 again (SPDK: success, nothing to do)",
       "iscsi_start_portal_group", "2")

    ok("iscsi_create_initiator_group 1 ANY 127.0.0.1/32", "iscsi_create_initiator_group", "1",
       "ANY", "127.0.0.1/32")
    ok("iscsi_create_initiator_group 2 'host1 host2' '127.0.0.1/32 10.0.0.0/8'",
       "iscsi_create_initiator_group", "2", "%s %s" % (HOST1, HOST2),
       "127.0.0.1/32 10.0.0.0/8")
    ok("iscsi_initiator_group_add_initiators 2 -n host3 -m 192.168.1.0/24",
       "iscsi_initiator_group_add_initiators", "2", "-n", BASE + ":host3", "-m",
       "192.168.1.0/24")
    igs = by_tag("iscsi_get_initiator_groups")
    check(igs.get(2) == {"tag": 2, "initiators": [HOST1, HOST2, BASE + ":host3"],
                         "netmasks": ["127.0.0.1/32", "10.0.0.0/8", "192.168.1.0/24"]},
          "iscsi_get_initiator_groups: {tag, initiators, netmasks} with the added ones (%s)"
          % igs.get(2))
    ok("iscsi_initiator_group_remove_initiators 2 -n host3 -m 192.168.1.0/24",
       "iscsi_initiator_group_remove_initiators", "2", "-n", BASE + ":host3", "-m",
       "192.168.1.0/24")
    igs = by_tag("iscsi_get_initiator_groups")
    check(igs.get(1) == {"tag": 1, "initiators": ["ANY"], "netmasks": ["127.0.0.1/32"]} and
          igs.get(2) == {"tag": 2, "initiators": [HOST1, HOST2],
                         "netmasks": ["127.0.0.1/32", "10.0.0.0/8"]},
          "initiator groups 1 (ANY) and 2 (host1, host2) after the removal (%s)"
          % list(igs.values()))

    ok("iscsi_create_auth_group 1 -c 'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 "
       "secret:s2'", "iscsi_create_auth_group", "1", "-c",
       "user:u1 secret:s1secret-0001 muser:mu1 msecret:ms1-secret-01,user:u2 secret:s2secret-0002")
    ok("iscsi_create_auth_group 2", "iscsi_create_auth_group", "2")
    ok("iscsi_auth_group_add_secret 2 -u u3 -s s3 -m mu3 -r ms3",
       "iscsi_auth_group_add_secret", "2", "-u", "u3", "-s", "s3secret-0003", "-m", "mu3",
       "-r", "ms3-secret-03")
    ok("iscsi_auth_group_add_secret 2 -u u4 -s s4", "iscsi_auth_group_add_secret", "2",
       "-u", "u4", "-s", "s4secret-0004")
    ok("iscsi_auth_group_remove_secret 2 -u u4", "iscsi_auth_group_remove_secret", "2",
       "-u", "u4")
    ags = by_tag("iscsi_get_auth_groups")
    check(ags.get(1) == {"tag": 1, "secrets": [
        {"user": "u1", "secret": "s1secret-0001", "muser": "mu1", "msecret": "ms1-secret-01"},
        {"user": "u2", "secret": "s2secret-0002"}]},
        "iscsi_get_auth_groups: {tag, secrets [{user, secret[, muser, msecret]}]} (%s)"
        % ags.get(1))
    check(ags.get(2) == {"tag": 2, "secrets": [
        {"user": "u3", "secret": "s3secret-0003", "muser": "mu3", "msecret": "ms3-secret-03"}]},
        "auth group 2: u3 added, u4 added and removed (%s)" % ags.get(2))

    ok("iscsi_create_target_node disk1 'Disk One' 'Malloc0:0' '1:1' 64 -d",
       "iscsi_create_target_node", "disk1", "Disk One", "Malloc0:0", "1:1", "64", "-d")
    ok("iscsi_create_target_node iqn...:disk2 disk2 'Malloc1:0' '1:1' 32 -r -g 1",
       "iscsi_create_target_node", DISK2, "disk2", "Malloc1:0", "1:1", "32", "-r", "-g", "1")
    ok("iscsi_create_target_node iqn...:disk3 disk3 'Malloc3:0' '1:2 2:2' 16 -H",
       "iscsi_create_target_node", DISK3, "disk3", "Malloc3:0", "1:2 2:2", "16", "-H")
    ok("iscsi_create_target_node iqn...:disk4 disk4 'Malloc4:0' '1:1' 8 -r -m -g 2",
       "iscsi_create_target_node", DISK4, "disk4", "Malloc4:0", "1:1", "8", "-r", "-m",
       "-g", "2")
    ok("iscsi_target_node_add_lun disk1 Malloc2 -i 5", "iscsi_target_node_add_lun", DISK1,
       "Malloc2", "-i", "5")
    ok("iscsi_target_node_add_pg_ig_maps disk1 '2:1 1:2'", "iscsi_target_node_add_pg_ig_maps",
       DISK1, "2:1 1:2")
    ok("iscsi_target_node_remove_pg_ig_maps disk1 '1:2'",
       "iscsi_target_node_remove_pg_ig_maps", DISK1, "1:2")

    ns = nodes()
    check(sorted(ns) == [DISK1, DISK2, DISK3, DISK4],
          "iscsi_get_target_nodes: four targets; 'disk1' got the node_base prefix (%s)"
          % sorted(ns))
    for name, n in ns.items():
        missing = [f for f in NODE_FIELDS if f not in n]
        check(not missing, "%s has SPDK's fields (missing: %s; extra: %s)"
              % (name, missing, sorted(set(n) - set(NODE_FIELDS))))
    d1 = ns.get(DISK1, {})
    check(d1.get("alias_name") == "Disk One" and d1.get("queue_depth") == 64 and
          d1.get("luns") == [{"lun_id": 0, "bdev_name": "Malloc0"},
                             {"lun_id": 5, "bdev_name": "Malloc2"}] and
          d1.get("pg_ig_maps") == [{"pg_tag": 1, "ig_tag": 1}, {"pg_tag": 2, "ig_tag": 1}],
          "disk1: alias, queue_depth, luns [{lun_id, bdev_name}] 0 and 5, pg_ig_maps "
          "[{pg_tag, ig_tag}] 1:1 2:1 (%s)" % {k: d1.get(k) for k in
                                               ("alias_name", "queue_depth", "luns",
                                                "pg_ig_maps")})
    chap = {k: d1.get(k) for k in ("disable_chap", "require_chap", "mutual_chap", "chap_group",
                                   "header_digest", "data_digest")}
    check(chap == {"disable_chap": True, "require_chap": False, "mutual_chap": False,
                   "chap_group": 0, "header_digest": False, "data_digest": False},
          "disk1: disable_chap true, the rest false/0 (%s)" % chap)
    d2, d3, d4 = ns.get(DISK2, {}), ns.get(DISK3, {}), ns.get(DISK4, {})
    check(d2.get("require_chap") is True and d2.get("chap_group") == 1 and
          d2.get("disable_chap") is False and d2.get("mutual_chap") is False,
          "disk2: require_chap, chap_group 1")
    check(d3.get("header_digest") is True and d3.get("data_digest") is False and
          d3.get("pg_ig_maps") == [{"pg_tag": 1, "ig_tag": 2}, {"pg_tag": 2, "ig_tag": 2}],
          "disk3: header_digest, maps 1:2 2:2")
    check(d4.get("require_chap") is True and d4.get("mutual_chap") is True and
          d4.get("chap_group") == 2, "disk4: mutual CHAP with group 2")

    ok("bdev_malloc_create -b Malloc5 8 512", "bdev_malloc_create", "-b", "Malloc5", "8", "512")
    ok("iscsi_target_node_add_lun disk1 Malloc5 (no -i)", "iscsi_target_node_add_lun", DISK1,
       "Malloc5")
    luns = nodes().get(DISK1, {}).get("luns")
    check(luns == [{"lun_id": 0, "bdev_name": "Malloc0"}, {"lun_id": 1, "bdev_name": "Malloc5"},
                   {"lun_id": 5, "bdev_name": "Malloc2"}] or
          sorted(luns or [], key=lambda x: x.get("lun_id", 0)) ==
          [{"lun_id": 0, "bdev_name": "Malloc0"}, {"lun_id": 1, "bdev_name": "Malloc5"},
           {"lun_id": 5, "bdev_name": "Malloc2"}],
          "add_lun without -i takes the lowest free id, 1 (%s)" % luns)

    ok("iscsi_target_node_set_auth disk1 -r -g 2", "iscsi_target_node_set_auth", DISK1, "-r",
       "-g", "2")
    d1 = nodes().get(DISK1, {})
    check(d1.get("require_chap") is True and d1.get("disable_chap") is False and
          d1.get("chap_group") == 2, "set_auth -r -g 2 shows in iscsi_get_target_nodes")
    ok("iscsi_target_node_set_auth disk1 -d", "iscsi_target_node_set_auth", DISK1, "-d")
    d1 = nodes().get(DISK1, {})
    check(d1.get("disable_chap") is True and d1.get("require_chap") is False,
          "set_auth -d: CHAP disabled again (%s)" % {k: d1.get(k) for k in
                                                     ("disable_chap", "require_chap",
                                                      "chap_group")})
    ok("iscsi_set_discovery_auth -r -m -g 1", "iscsi_set_discovery_auth", "-r", "-m", "-g", "1")
    opts = rpc_json("iscsi_get_options") or {}
    check(opts.get("require_chap") is True and opts.get("mutual_chap") is True and
          opts.get("chap_group") == 1, "discovery auth shows in iscsi_get_options")
    ok("iscsi_set_discovery_auth -d", "iscsi_set_discovery_auth", "-d")
    opts = rpc_json("iscsi_get_options") or {}
    check(opts.get("disable_chap") is True and opts.get("require_chap") is False,
          "discovery auth disabled again (%s)" % {k: opts.get(k) for k in
                                                  ("disable_chap", "require_chap",
                                                   "mutual_chap", "chap_group")})
    have = registered()
    if "scsi_get_devices" in have:
        devs = rpc_json("scsi_get_devices") or []
        check(sorted(d.get("device_name", "") for d in devs) == [DISK1, DISK2, DISK3, DISK4]
              and all(isinstance(d.get("id"), int) for d in devs),
              "scsi_get_devices: [{id, device_name}] for the four targets (%s)" % devs)
    else:
        print("  skip scsi_get_devices: not registered by this iscsi_tgt")
    if "iscsi_portal_group_set_auth" in have:
        ok("iscsi_portal_group_set_auth 2 -r -g 1", "iscsi_portal_group_set_auth", "2", "-r",
           "-g", "1")
        ok("iscsi_portal_group_set_auth 2 -d", "iscsi_portal_group_set_auth", "2", "-d")
    else:
        print("  skip iscsi_portal_group_set_auth: not registered by this iscsi_tgt")
    if "iscsi_target_node_set_redirect" in have:
        ok("iscsi_target_node_set_redirect disk1 1 -a 127.0.0.1 -p PORT2",
           "iscsi_target_node_set_redirect", DISK1, "1", "-a", "127.0.0.1", "-p", PORT2)
        ok("iscsi_target_node_set_redirect disk1 1 (clear)", "iscsi_target_node_set_redirect",
           DISK1, "1")
    else:
        print("  skip iscsi_target_node_set_redirect: not registered by this iscsi_tgt")


def test_bad_input(p):
    print("bad input: an error that says what to fix, and the daemon keeps serving")
    before = {m: rpc_json(m) for m in ("iscsi_get_portal_groups", "iscsi_get_initiator_groups",
                                       "iscsi_get_auth_groups", "iscsi_get_target_nodes")}
    pg = lambda tag, portals, **kw: dict(tag=tag, portals=portals, **kw)  # noqa: E731
    lo = [{"host": "127.0.0.1", "port": str(free_port())}]
    # missing, wrong type, unknown, not an object
    bad(p, "create_portal_group without portals", "iscsi_create_portal_group", {"tag": 7},
        "portals")
    bad(p, "create_portal_group with tag \"one\"", "iscsi_create_portal_group",
        pg("one", lo), "tag")
    bad(p, "create_portal_group with an unknown parameter", "iscsi_create_portal_group",
        pg(7, lo, colour="red"), "colour")
    bad(p, "create_portal_group with params that are an array", "iscsi_create_portal_group",
        [7, lo], ("object", "param"))
    bad(p, "create_portal_group with portals a string", "iscsi_create_portal_group",
        pg(7, "127.0.0.1:3260"), "portals")
    # tags
    bad(p, "portal group tag 0", "iscsi_create_portal_group", pg(0, lo), "tag")
    bad(p, "portal group tag -1", "iscsi_create_portal_group", pg(-1, lo), "tag")
    bad(p, "portal group tag 65536 (TPGT is 16 bits)", "iscsi_create_portal_group",
        pg(65536, lo), "tag", "65535")
    bad(p, "portal group tag 1 again", "iscsi_create_portal_group", pg(1, lo), "1",
        ("exist", "already", "in use", "duplicate"))
    bad(p, "initiator group tag 0", "iscsi_create_initiator_group",
        {"tag": 0, "initiators": ["ANY"], "netmasks": ["ANY"]}, "tag")
    bad(p, "initiator group tag 2 again", "iscsi_create_initiator_group",
        {"tag": 2, "initiators": ["ANY"], "netmasks": ["ANY"]}, "2",
        ("exist", "already", "in use", "duplicate"))
    bad(p, "auth group tag 0", "iscsi_create_auth_group", {"tag": 0}, "tag")
    bad(p, "auth group tag 1 again", "iscsi_create_auth_group", {"tag": 1}, "1",
        ("exist", "already", "in use", "duplicate"))
    # portals
    bad(p, "portals []", "iscsi_create_portal_group", pg(7, []), "portals")
    for host, port, needle in (("256.1.1.1", "3260", "256.1.1.1"),
                               ("127.0.0.1", "70000", "70000"),
                               ("127.0.0.1", "0x10", "0x10"),
                               ("127.0.0.1", "", "port"),
                               ("", "3260", "host"),
                               ("127.0.0.1 ", "3260", ("host", "127.0.0.1 :")),
                               ("[::1", "3260", "[::1")):
        bad(p, "portal host %r port %r" % (host, port), "iscsi_create_portal_group",
            pg(7, [{"host": host, "port": port}]), needle, code=None)
    bad(p, "a portal another group listens on", "iscsi_create_portal_group",
        pg(7, [{"host": "127.0.0.1", "port": PORT1}]), PORT1, code=None)
    bad_cli(p, "rpc.py iscsi_create_portal_group 7 127.0.0.1 (no port)",
            ["iscsi_create_portal_group", "7", "127.0.0.1"], "HOST:PORT")
    # initiator groups: netmasks and names
    ig = lambda tag, i, n: {"tag": tag, "initiators": i, "netmasks": n}  # noqa: E731
    for mask in ("127.0.0.1/33", "300.0.0.0/8", "10.0.0.0/-1", "10.0.0.0/", "netmask",
                 "10.0.0.0/8/8", "[::1]/129"):
        bad(p, "netmask %r" % mask, "iscsi_create_initiator_group", ig(7, ["ANY"], [mask]),
            mask, code=None)
    bad(p, "initiators []", "iscsi_create_initiator_group", ig(7, [], ["ANY"]), "initiators")
    bad(p, "netmasks []", "iscsi_create_initiator_group", ig(7, ["ANY"], []), "netmasks")
    for name in ("iqn.2016-06.io.spdk:host 1", "eui.0123", "naa.123",
                 "iqn." + "x" * 224):
        bad(p, "initiator name %r" % name[:40], "iscsi_create_initiator_group",
            ig(7, [name], ["ANY"]), ("initiator", name[:20]), code=None)
    bad(p, "add_initiators to group 9 (none)", "iscsi_initiator_group_add_initiators",
        {"tag": 9, "initiators": [HOST1]}, "9")
    bad(p, "remove_initiators a name not in group 2", "iscsi_initiator_group_remove_initiators",
        {"tag": 2, "initiators": [STRANGER]}, STRANGER, code=None)
    bad(p, "add_initiators a name already in group 2", "iscsi_initiator_group_add_initiators",
        {"tag": 2, "initiators": [HOST1]}, HOST1, code=None)
    bad(p, "add_initiators a bad netmask", "iscsi_initiator_group_add_initiators",
        {"tag": 2, "netmasks": ["1.2.3.4/40"]}, "1.2.3.4/40", code=None)
    # target nodes
    tn = lambda name, **kw: dict({"name": name, "alias_name": "x",  # noqa: E731
                                  "luns": [{"bdev_name": "Malloc3", "lun_id": 0}],
                                  "pg_ig_maps": [{"pg_tag": 1, "ig_tag": 1}],
                                  "queue_depth": 8}, **kw)
    new = BASE + ":bad"
    for name, needle in (("iqn.2016-06.io.spdk:a b", "name"),
                         ("iqn.2016-06.io.spdk:a_b", "name"),
                         ("iqn.16-06.io.spdk:x", "iqn.16-06"),
                         ("iqn.2016-13.io.spdk:x", "iqn.2016-13"),
                         ("iqn.2016-06", "name"),
                         ("eui.0123", "eui.0123"),
                         ("eui.0123456789ABCDEG", "eui.0123456789ABCDEG"),
                         ("naa.123", "naa.123"),
                         ("naa.0123456789ABCDE", "naa.0123456789ABCDE"),
                         ("iqn.2016-06.io.spdk:" + "x" * 210, "223"),
                         ("", "name")):
        bad(p, "target name %r" % name[:40], "iscsi_create_target_node", tn(name),
            needle, code=None)
    bad(p, "target disk1 again", "iscsi_create_target_node", tn("disk1"), "disk1",
        ("exist", "already", "duplicate"), code=None)
    bad(p, "queue_depth 0", "iscsi_create_target_node", tn(new, queue_depth=0), "queue_depth")
    bad(p, "queue_depth -1", "iscsi_create_target_node", tn(new, queue_depth=-1),
        "queue_depth")
    bad(p, "queue_depth 65 > max_queue_depth 64", "iscsi_create_target_node",
        tn(new, queue_depth=65), "queue_depth", "64")
    bad(p, "unknown bdev", "iscsi_create_target_node",
        tn(new, luns=[{"bdev_name": "Nope0", "lun_id": 0}]), "Nope0", code=None)
    bad(p, "lun_id 64 (LUNs 0..63)", "iscsi_create_target_node",
        tn(new, luns=[{"bdev_name": "Malloc3", "lun_id": 64}]), "lun", "64")
    bad(p, "lun_id -1 in create_target_node", "iscsi_create_target_node",
        tn(new, luns=[{"bdev_name": "Malloc3", "lun_id": -1}]), "lun")
    bad(p, "the same lun_id twice", "iscsi_create_target_node",
        tn(new, luns=[{"bdev_name": "Malloc3", "lun_id": 0},
                      {"bdev_name": "Malloc4", "lun_id": 0}]), "lun", "0")
    bad(p, "luns []", "iscsi_create_target_node", tn(new, luns=[]), "lun")
    bad(p, "a lun without bdev_name", "iscsi_create_target_node",
        tn(new, luns=[{"lun_id": 0}]), "bdev_name")
    bad(p, "pg_ig_maps naming portal group 9 (none)", "iscsi_create_target_node",
        tn(new, pg_ig_maps=[{"pg_tag": 9, "ig_tag": 1}]), "9", code=None)
    bad(p, "pg_ig_maps naming initiator group 9 (none)", "iscsi_create_target_node",
        tn(new, pg_ig_maps=[{"pg_tag": 1, "ig_tag": 9}]), "9", code=None)
    bad(p, "disable_chap with require_chap", "iscsi_create_target_node",
        tn(new, disable_chap=True, require_chap=True), "disable_chap", "require_chap")
    bad(p, "mutual_chap without require_chap", "iscsi_create_target_node",
        tn(new, mutual_chap=True), "mutual_chap")
    bad(p, "chap_group -1", "iscsi_create_target_node", tn(new, chap_group=-1), "chap_group")
    bad_cli(p, "rpc.py iscsi_create_target_node ... -d -r",
            ["iscsi_create_target_node", new, "x", "Malloc3:0", "1:1", "8", "-d", "-r"],
            "disable_chap", "require_chap")
    check(new not in nodes(), "no target was created by the refused requests")
    # changes to target nodes
    bad(p, "add_lun to an unknown target", "iscsi_target_node_add_lun",
        {"name": BASE + ":none", "bdev_name": "Malloc3"}, BASE + ":none", code=None)
    bad(p, "add_lun of an unknown bdev", "iscsi_target_node_add_lun",
        {"name": DISK1, "bdev_name": "Nope0"}, "Nope0", code=None)
    bad(p, "add_lun with lun_id 5 in use", "iscsi_target_node_add_lun",
        {"name": DISK1, "bdev_name": "Malloc3", "lun_id": 5}, "5", code=None)
    bad(p, "add_lun with lun_id 64", "iscsi_target_node_add_lun",
        {"name": DISK1, "bdev_name": "Malloc3", "lun_id": 64}, "64")
    bad(p, "add_lun with lun_id -2", "iscsi_target_node_add_lun",
        {"name": DISK1, "bdev_name": "Malloc3", "lun_id": -2}, "lun")
    bad(p, "add_pg_ig_maps with portal group 9", "iscsi_target_node_add_pg_ig_maps",
        {"name": DISK1, "pg_ig_maps": [{"pg_tag": 9, "ig_tag": 1}]}, "9", code=None)
    bad(p, "add_pg_ig_maps of a map already there", "iscsi_target_node_add_pg_ig_maps",
        {"name": DISK1, "pg_ig_maps": [{"pg_tag": 1, "ig_tag": 1}]},
        ("exist", "already", "duplicate"), code=None)
    bad(p, "add_pg_ig_maps []", "iscsi_target_node_add_pg_ig_maps",
        {"name": DISK1, "pg_ig_maps": []}, "pg_ig_maps")
    bad(p, "remove_pg_ig_maps of a map not there", "iscsi_target_node_remove_pg_ig_maps",
        {"name": DISK1, "pg_ig_maps": [{"pg_tag": 2, "ig_tag": 2}]}, "2", code=None)
    bad(p, "set_auth -d -r", "iscsi_target_node_set_auth",
        {"name": DISK1, "disable_chap": True, "require_chap": True}, "disable_chap",
        "require_chap")
    bad(p, "set_auth on an unknown target", "iscsi_target_node_set_auth",
        {"name": BASE + ":none", "disable_chap": True}, BASE + ":none", code=None)
    bad(p, "set_discovery_auth -d -r", "iscsi_set_discovery_auth",
        {"disable_chap": True, "require_chap": True}, "disable_chap", "require_chap")
    bad(p, "set_discovery_auth -m without -r", "iscsi_set_discovery_auth",
        {"mutual_chap": True}, "mutual_chap")
    bad(p, "set_discovery_auth chap_group -1", "iscsi_set_discovery_auth",
        {"chap_group": -1}, "chap_group")
    # auth groups
    bad(p, "add_secret to auth group 9 (none)", "iscsi_auth_group_add_secret",
        {"tag": 9, "user": "u", "secret": "s"}, "9", code=None)
    bad(p, "add_secret of user u1 again", "iscsi_auth_group_add_secret",
        {"tag": 1, "user": "u1", "secret": "other"}, "u1", code=None)
    bad(p, "add_secret with muser but no msecret", "iscsi_auth_group_add_secret",
        {"tag": 1, "user": "u9", "secret": "s9", "muser": "mu9"}, "msecret")
    bad(p, "add_secret without secret", "iscsi_auth_group_add_secret",
        {"tag": 1, "user": "u9"}, "secret")
    bad(p, "remove_secret of an unknown user", "iscsi_auth_group_remove_secret",
        {"tag": 1, "user": "nobody"}, "nobody", code=None)
    bad(p, "create_auth_group with a secret without user", "iscsi_create_auth_group",
        {"tag": 7, "secrets": [{"secret": "s"}]}, "user")
    bad(p, "create_auth_group with an unknown secret key", "iscsi_create_auth_group",
        {"tag": 7, "secrets": [{"user": "u", "secret": "s", "colour": "red"}]}, "colour")
    bad(p, "create_auth_group with one user twice", "iscsi_create_auth_group",
        {"tag": 7, "secrets": [{"user": "u", "secret": "s"}, {"user": "u", "secret": "t"}]},
        "u", code=None)
    bad_cli(p, "rpc.py iscsi_create_auth_group 7 -c 'user=u secret=s'",
            ["iscsi_create_auth_group", "7", "-c", "user=u secret=s"], "KEY:VALUE")
    # deleting what does not exist
    for method, params, needle in (("iscsi_delete_portal_group", {"tag": 9}, "9"),
                                   ("iscsi_delete_initiator_group", {"tag": 9}, "9"),
                                   ("iscsi_delete_auth_group", {"tag": 9}, "9"),
                                   ("iscsi_start_portal_group", {"tag": 9}, "9"),
                                   ("iscsi_delete_target_node", {"name": BASE + ":none"},
                                    BASE + ":none")):
        bad(p, "%s %s (none)" % (method, json.dumps(params)), method, params, needle,
            code=None)
    after = {m: rpc_json(m) for m in before}
    check(after == before, "the refused requests changed nothing")
    if after != before:
        for m in before:
            if after[m] != before[m]:
                print("    %s before: %s\n    %s after:  %s" % (m, before[m], m, after[m]))


def test_logins(p):
    print("logins with libiscsi (iscsi-ls, iscsi-inq)")
    found = discover()
    check(found is not None and DISK1 in found and DISK2 in found and DISK4 in found,
          "iscsi-ls (SendTargets) as host1 lists disk1, disk2, disk4 (%s)" % found)
    found = discover(initiator=STRANGER)
    check(found is not None and DISK3 not in found and DISK1 in found,
          "iscsi-ls as an initiator outside group 2 does not see disk3 (%s)" % found)
    reachable("disk1 LUN 0", DISK1, True)
    reachable("disk1 LUN 5", DISK1, True, lun=5)
    rc, out = inq(DISK1, lun=7)
    check(rc != 0 and rc is not None, "disk1 LUN 7 (none): iscsi-inq fails (rc %s)" % rc)
    # libiscsi's tools offer HeaderDigest=None,CRC32C: a target that requires
    # CRC32C picks it from the list (RFC 7143 13.1).
    reachable("disk3 (HeaderDigest required) as host1", DISK3, True)
    reachable("disk3 as a stranger", DISK3, False, initiator=STRANGER)
    reachable("disk1 through portal group 2 (PORT3)", DISK1, True, port=PORT3)
    # CHAP, one way
    reachable("disk2 without CHAP", DISK2, False)
    reachable("disk2 with u1's wrong secret", DISK2, False, user="u1", secret="wrong")
    reachable("disk2 with u1's secret", DISK2, True, user="u1", secret="s1secret-0001")
    reachable("disk2 with u2's secret", DISK2, True, user="u2", secret="s2secret-0002")
    reachable("disk2 with a user of another group", DISK2, False, user="u3",
              secret="s3secret-0003")
    # mutual CHAP: the target proves itself with muser/msecret of the secret used
    reachable("disk4 mutual CHAP, right both ways", DISK4, True, user="u3", secret="s3secret-0003",
              tuser="mu3", tsecret="ms3-secret-03")
    reachable("disk4 mutual CHAP, initiator's secret wrong", DISK4, False, user="u3",
              secret="bad", tuser="mu3", tsecret="ms3-secret-03")
    reachable("disk4 mutual CHAP, target's secret not what the initiator expects", DISK4,
              False, user="u3", secret="s3secret-0003", tuser="mu3", tsecret="notit")
    # auth changed at run time applies to the next login
    ok("iscsi_target_node_set_auth disk1 -r -g 1", "iscsi_target_node_set_auth", DISK1, "-r",
       "-g", "1")
    reachable("disk1 now wants CHAP: without it", DISK1, False)
    reachable("disk1 now wants CHAP: with u1", DISK1, True, user="u1", secret="s1secret-0001")
    ok("iscsi_target_node_set_auth disk1 -d", "iscsi_target_node_set_auth", DISK1, "-d")
    reachable("disk1 without CHAP again", DISK1, True)
    # discovery auth
    ok("iscsi_set_discovery_auth -r -g 1", "iscsi_set_discovery_auth", "-r", "-g", "1")
    check(discover() is None, "discovery without CHAP refused once discovery auth is required")
    found = discover(user="u1", secret="s1secret-0001")
    check(found is not None and DISK1 in found, "discovery with u1's secret works (%s)" % found)
    ok("iscsi_set_discovery_auth -d", "iscsi_set_discovery_auth", "-d")
    check(discover() is not None, "discovery without CHAP works again")
    # an initiator group change applies to the next login
    ok("iscsi_initiator_group_add_initiators 2 -n stranger", "iscsi_initiator_group_add_initiators",
       "2", "-n", STRANGER)
    reachable("disk3 as the stranger once added to group 2", DISK3, True, initiator=STRANGER)
    ok("iscsi_initiator_group_remove_initiators 2 -n stranger",
       "iscsi_initiator_group_remove_initiators", "2", "-n", STRANGER)
    reachable("disk3 as the stranger once removed", DISK3, False, initiator=STRANGER)


def test_connections(p):
    print("iscsi_get_connections and iscsi_get_stats during a session")
    perf = subprocess.Popen(["iscsi-perf", "-i", HOST1, "-m", "4", url(DISK1)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        conns = []
        deadline = time.time() + 10
        while time.time() < deadline and not conns:
            conns = rpc_json("iscsi_get_connections") or []
            time.sleep(0.2)
        c = conns[0] if conns else {}
        need = {"id": int, "cid": int, "tsih": int, "initiator_addr": str, "target_addr": str,
                "target_node_name": str}
        wrong = {k: c.get(k) for k, t in need.items() if type(c.get(k)) is not t}
        check(len(conns) == 1 and not wrong,
              "iscsi_get_connections: one connection with SPDK's fields (wrong: %s; %s)"
              % (wrong, conns))
        check(c.get("initiator_addr") == "127.0.0.1" and c.get("target_addr") == "127.0.0.1" and
              c.get("target_node_name", "").endswith("disk1") and c.get("tsih", 0) > 0,
              "its addresses, target name and TSIH")
        stats = rpc_json("iscsi_get_stats") or {}
        check(stats.get("running") == 1 and set(stats) == {"invalid", "running", "exiting",
                                                          "exited"},
              "iscsi_get_stats: running 1 (%s)" % stats)
        if "iscsi_target_node_request_logout" in registered():
            ok("iscsi_target_node_request_logout disk1", "iscsi_target_node_request_logout",
               DISK1)
    finally:
        if perf.poll() is None:
            perf.send_signal(signal.SIGINT)
            try:
                perf.wait(5)
            except subprocess.TimeoutExpired:
                perf.kill()
                perf.wait()
    check(wait_until(lambda: rpc_json("iscsi_get_connections") == [], 10),
          "the connection is gone from iscsi_get_connections after iscsi-perf ends")


def config_of(p):
    return {m: rpc_json(m) for m in ("iscsi_get_portal_groups", "iscsi_get_initiator_groups",
                                     "iscsi_get_auth_groups", "iscsi_get_target_nodes",
                                     "iscsi_get_options")}


def test_save_restart(p):
    print("save_config -> iscsi_tgt --json, and load_config into a --wait-for-rpc daemon")
    before = config_of(p)
    cfg = rpc_json("save_config")
    iscsi = [s for s in (cfg or {}).get("subsystems", []) if s.get("subsystem") == "iscsi"]
    check(len(iscsi) == 1, "save_config has an iscsi entry")
    methods = [c.get("method") for c in (iscsi[0].get("config") or [] if iscsi else [])]
    check(methods.count("iscsi_set_options") == 1 and
          methods.count("iscsi_create_portal_group") == 2 and
          methods.count("iscsi_create_initiator_group") == 2 and
          methods.count("iscsi_create_auth_group") == 2 and
          methods.count("iscsi_create_target_node") == 4,
          "iscsi config: options, 2 portal groups, 2 initiator groups, 2 auth groups, "
          "4 targets (%s)" % methods)
    if methods:
        first = methods.index("iscsi_create_target_node") if \
            "iscsi_create_target_node" in methods else -1
        check(first > max(i for i, m in enumerate(methods) if m in (
            "iscsi_create_portal_group", "iscsi_create_initiator_group",
            "iscsi_create_auth_group")),
            "target nodes come after the groups they name")
    names = [s.get("subsystem") for s in (cfg or {}).get("subsystems", [])]
    check("bdev" in names and "iscsi" in names and names.index("bdev") < names.index("iscsi"),
          "bdev comes before iscsi in the saved config (%s)" % names)
    path = os.path.join(TMP, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc = stop_tgt(p)
    check(rc == 0, "iscsi_tgt exits 0 on SIGTERM (%s)" % rc)
    p = start_iscsi("--json", path)
    after = config_of(p)
    for m in before:
        check(after[m] == before[m], "%s: the same after the restart with --json" % m)
        if after[m] != before[m]:
            print("    before: %s\n    after:  %s" % (json.dumps(before[m]),
                                                     json.dumps(after[m])))
    reachable("disk1 after the restart", DISK1, True)
    reachable("disk2 after the restart, with CHAP", DISK2, True, user="u1", secret="s1secret-0001")
    rc = stop_tgt(p)
    check(rc == 0, "iscsi_tgt exits 0 on SIGTERM (%s)" % rc)

    p = start_iscsi("--wait-for-rpc", wait_init=False)
    r = rpc("load_config", "-j", path)
    check(r.returncode == 0, "rpc.py load_config -j config.json into a --wait-for-rpc daemon")
    if r.returncode != 0:
        print("    %s" % (r.stdout + r.stderr).strip()[-600:])
    ok("framework_wait_init", "framework_wait_init")
    again = config_of(p)
    check(again == before, "load_config rebuilt the same iSCSI configuration")
    if again != before:
        for m in before:
            if again[m] != before[m]:
                print("    %s before: %s\n    %s after:  %s" % (m, before[m], m, again[m]))
    return p


def test_delete(p):
    print("deleting: bdevs under LUNs, groups in use, targets")
    ok("bdev_malloc_delete Malloc2 (disk1's LUN 5)", "bdev_malloc_delete", "Malloc2")
    check(wait_until(lambda: [l.get("lun_id") for l in
                              nodes().get(DISK1, {}).get("luns", [])] == [0, 1], 10),
          "disk1's LUN 5 is gone once its bdev is deleted, LUNs 0 and 1 stay (%s)"
          % nodes().get(DISK1, {}).get("luns"))
    reachable("disk1 LUN 0 after the hot remove of LUN 5", DISK1, True)
    # A group a target uses: refused with the target's name, or deleted together
    # with the maps that name it. Never a map left pointing at nothing.
    for method, tag, key in (("iscsi_delete_initiator_group", 2, "ig_tag"),
                             ("iscsi_delete_portal_group", 2, "pg_tag")):
        r = raw_call(method, {"tag": tag})
        dangling = [n for n, v in nodes().items()
                    if any(m.get(key) == tag for m in v.get("pg_ig_maps", []))]
        if "error" in r:
            msg = r["error"].get("message", "")
            check(any(w in msg for w in ("disk3", "disk1", "in use", "used", "mapped")),
                  "%s %d (used by disk3) refused naming its user (%s)" % (method, tag, msg))
        else:
            check(not dangling, "%s %d (in use) deleted it and its maps (left: %s)"
                  % (method, tag, dangling))
        check(alive(p), "  daemon still serving after %s %d" % (method, tag))
    r = raw_call("iscsi_delete_auth_group", {"tag": 2})
    if "error" in r:
        check("disk4" in r["error"].get("message", "") or "use" in r["error"].get("message", ""),
              "iscsi_delete_auth_group 2 (disk4's) refused naming its user (%s)" % r["error"])
    else:
        reachable("disk4 after its auth group was deleted", DISK4, False, user="u3",
                  secret="s3secret-0003", tuser="mu3", tsecret="ms3-secret-03")
    ok("iscsi_delete_target_node disk1", "iscsi_delete_target_node", DISK1)
    check(DISK1 not in nodes(), "disk1 is gone from iscsi_get_target_nodes")
    found = discover()
    check(found is not None and DISK1 not in found, "iscsi-ls no longer lists disk1 (%s)" % found)
    reachable("deleted disk1", DISK1, False)
    for name in (DISK2, DISK3, DISK4):
        if name in nodes():
            ok("iscsi_delete_target_node " + name, "iscsi_delete_target_node", name)
    for tag in sorted(by_tag("iscsi_get_portal_groups")):
        ok("iscsi_delete_portal_group %d" % tag, "iscsi_delete_portal_group", str(tag))
    for tag in sorted(by_tag("iscsi_get_initiator_groups")):
        ok("iscsi_delete_initiator_group %d" % tag, "iscsi_delete_initiator_group", str(tag))
    for tag in sorted(by_tag("iscsi_get_auth_groups")):
        ok("iscsi_delete_auth_group %d" % tag, "iscsi_delete_auth_group", str(tag))
    empty = {m: rpc_json(m) for m in ("iscsi_get_portal_groups", "iscsi_get_initiator_groups",
                                      "iscsi_get_auth_groups", "iscsi_get_target_nodes")}
    check(all(v == [] for v in empty.values()), "everything deleted (%s)" % empty)
    reachable("any target once its portal group is deleted", DISK2, False)


def body():
    test_startup_options()
    test_auth_file()
    p = start_iscsi()
    test_fresh(p)
    test_build(p)
    test_bad_input(p)
    test_logins(p)
    test_connections(p)
    p = test_save_restart(p)
    test_delete(p)
    rc = stop_tgt(p)
    check(rc == 0, "iscsi_tgt exits 0 at the end (%s)" % rc)


if __name__ == "__main__":
    sys.exit(run(body))

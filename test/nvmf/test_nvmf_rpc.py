#!/usr/bin/env python3
"""End-to-end test of the NVMe-oF target control plane on osprey_tgt, driven
with scripts/rpc.py's SPDK command-line forms (and raw JSON-RPC for inputs
rpc.py would refuse to send).

Covers: the built-in discovery subsystem; listeners refused until their
transport is created (as in SPDK); nvmf_create_transport -t tcp, its options in
nvmf_get_transports, a second create refused, unknown transports refused;
listeners added, listed, refused twice, removed; subsystems with
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
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import *  # noqa: E402,F401,F403  (check, start_tgt, rpc, ...)

DISC = "nqn.2014-08.org.nvmexpress.discovery"
NQN1 = "nqn.2016-06.io.spdk:cnode1"
NQN2 = "nqn.2016-06.io.spdk:cnode2"
HOST1 = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
# This machine has no RDMA device: ibv_get_device_list() returns NULL (ENOSYS).
NO_RDMA = "No RDMA device found"
PORT = str(free_port())   # picked free at run time: parallel runs do not collide


def rpc_run(what, *args):
    r = rpc(*args)
    if not check(r.returncode == 0, what):
        print("    rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.returncode == 0


def subsystems():
    """nqn -> nvmf_get_subsystems entry."""
    return {s["nqn"]: s for s in (rpc_json("nvmf_get_subsystems") or [])}


# ---- the tests ----

def test_rdma_refused(p):
    """No RDMA device here: creating the transport fails clearly; nothing changes."""
    check_error(p, "nvmf_create_transport -t rdma (no RDMA device on this machine)",
                ["nvmf_create_transport", "-t", "rdma"], NO_RDMA)
    # RDMA options are checked before the devices are looked for.
    check_error(p, "nvmf_create_transport -t rdma with a TCP-only option", None,
                "c2h_success is a TCP transport parameter",
                raw=("nvmf_create_transport", {"trtype": "RDMA", "c2h_success": False}))
    check_error(p, "nvmf_create_transport -t rdma max_srq_depth 1", None,
                "Invalid max_srq_depth",
                raw=("nvmf_create_transport", {"trtype": "RDMA", "max_srq_depth": 1}))
    check_error(p, "nvmf_create_transport -t rdma no_srq \"yes\"", None, "Invalid no_srq",
                raw=("nvmf_create_transport", {"trtype": "RDMA", "no_srq": "yes"}))
    check_error(p, "nvmf_create_transport -t rdma with every SPDK RDMA option",
                ["nvmf_create_transport", "-t", "RDMA", "-q", "64", "-m", "4", "-c", "8192",
                 "-i", "131072", "-u", "8192", "-a", "32", "-n", "1023", "-b", "16",
                 "-s", "1024", "-r", "-l", "64", "-x", "2", "-w", "-d", "2048"], NO_RDMA)
    check(rpc_json("nvmf_get_transports") == [], "no transport after the RDMA refusals")
    check(len((rpc_json("nvmf_get_stats") or {}).get("poll_groups") or []) == 1 and
          all(g.get("transports") == [] for g in
              (rpc_json("nvmf_get_stats") or {}).get("poll_groups") or []),
          "nvmf_get_stats: no transport state in the poll groups after the refusals")


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
    groups = stats.get("poll_groups") or []
    check(stats.get("tick_rate", 0) > 0 and len(groups) == 1 and
          groups[0].get("name", "").startswith("nvmf_tgt_poll_group") and
          groups[0].get("current_admin_qpairs") == 0 and
          groups[0].get("current_io_qpairs") == 0,
          "nvmf_get_stats: tick_rate, one idle poll group per core (%s)" % groups)
    if "not available in this build" in json.dumps(raw_call("nvmf_create_transport",
                                                          {"trtype": "RDMA"}).get("error")):
        # Built without rdma-core (./configure --without-rdma).
        check_error(p, "nvmf_create_transport -t rdma (no RDMA in this build)",
                    ["nvmf_create_transport", "-t", "rdma"],
                    "transport RDMA is not available in this build")
    else:
        test_rdma_refused(p)
    check_error(p, "nvmf_subsystem_add_listener -t rdma before the transport exists",
                ["nvmf_subsystem_add_listener", DISC, "-t", "rdma", "-a", "127.0.0.1",
                 "-s", PORT], "RDMA")
    # Accepted once, this made every connection need 512 MiB of DMA memory.
    check_error(p, "nvmf_create_transport max_queue_depth 4096 in_capsule_data_size 131072",
                None, "512 MiB", "max_queue_depth", "in_capsule_data_size",
                raw=("nvmf_create_transport", {"trtype": "TCP", "max_queue_depth": 4096,
                                               "in_capsule_data_size": 131072}))
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
    # A bdev backs one namespace: the namespace claims it (as in SPDK).
    check_error(p, "a bdev that is a namespace of another subsystem", None, "Malloc1",
                "already namespace 5 of " + NQN1,
                raw=("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Malloc1"}}))
    b = (rpc_json("bdev_get_bdevs", "-b", "Malloc1") or [{}])[0]
    check(b.get("claimed") is True and b.get("claim_module") == "NVMe-oF Target",
          "the namespace's bdev shows as claimed by the NVMe-oF target (%s)"
          % {k: b.get(k) for k in ("claimed", "claim_module")})
    check(rpc(*"bdev_malloc_create -b Malloc2 16 4096".split()).stdout.strip() == "Malloc2",
          "bdev_malloc_create -b Malloc2")
    r = raw_call("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Malloc2"}})
    check(r.get("result") == 1, "nvmf_subsystem_add_ns without nsid answers the lowest free "
          "nsid, 1 (%s)" % r)
    rpc_run("nvmf_subsystem_add_host %s HOST1" % NQN2, "nvmf_subsystem_add_host", NQN2, HOST1)

    # Listeners need a created transport (as in SPDK).
    listen = ["nvmf_subsystem_add_listener", NQN1, "-t", "tcp", "-f", "ipv4", "-a",
              "127.0.0.1", "-s", PORT]
    check_error(p, "nvmf_subsystem_add_listener -t tcp before a TCP transport exists",
                listen, "has not been created")
    rpc_run("nvmf_create_transport -t tcp -u 16384 -c 8192", "nvmf_create_transport", "-t",
            "tcp", "-u", "16384", "-c", "8192")
    tr = rpc_json("nvmf_get_transports") or []
    check(len(tr) == 1 and tr[0].get("trtype") == "TCP" and
          tr[0].get("io_unit_size") == 16384 and tr[0].get("in_capsule_data_size") == 8192,
          "nvmf_get_transports: TCP with the given io_unit_size and in_capsule_data_size (%s)"
          % tr)
    check_error(p, "a second TCP transport", ["nvmf_create_transport", "-t", "tcp"], "exists")
    rpc_run("add_listener 127.0.0.1:" + PORT, *listen)
    check_error(p, "the same listener twice", listen, "127.0.0.1")
    lst = rpc_json("nvmf_subsystem_get_listeners", NQN1) or []
    check(len(lst) == 1 and lst[0].get("address", {}).get("traddr") == "127.0.0.1" and
          lst[0].get("address", {}).get("trsvcid") == PORT,
          "nvmf_subsystem_get_listeners shows it (%s)" % lst)
    rpc_run("remove_listener", "nvmf_subsystem_remove_listener", *listen[1:])
    check(rpc_json("nvmf_subsystem_get_listeners", NQN1) == [], "listener removed")
    rpc_run("add_listener again", *listen)

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
    la = s1.get("listen_addresses") or [{}]
    check(len(la) == 1 and la[0].get("trtype") == "TCP" and la[0].get("trsvcid") == PORT,
          "nvmf_get_subsystems lists the listener (%s)" % la)
    one = rpc_json("nvmf_get_subsystems", NQN2) or []
    check(len(one) == 1 and one[0].get("nqn") == NQN2, "nvmf_get_subsystems NQN shows one")
    for what in ("controllers", "qpairs"):
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
    check_error(p, "NQN with a space", None, "space or control character",
                raw=("nvmf_create_subsystem", {"nqn": "nqn.2016-06.io.spdk:a b"}))
    check_error(p, "NQN with a newline", None, "control character", "0x0a",
                raw=("nvmf_create_subsystem", {"nqn": "nqn.2016-06.io.spdk:a\nb"}))
    check_error(p, "NQN with an embedded NUL", None, "NUL",
                raw=("nvmf_create_subsystem", {"nqn": "nqn.2016-06.io.spdk:a\u0000b"}))
    check_error(p, "host NQN with a space", None, "space or control character",
                raw=("nvmf_subsystem_add_host", {"nqn": NQN2, "host": "nqn.2016-06.io.spdk:h 1"}))
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


def pools():
    return {x.get("name"): x for x in (rpc_json("iobuf_get_stats") or [])}


def test_iobuf(p):
    print("iobuf: the buffer pools and their options")
    ps = pools()
    small, large = ps.get("iobuf_small", {}), ps.get("iobuf_large", {})
    check(small.get("count") == 8191 and small.get("bufsize") == 8192 and
          large.get("count") == 1023 and large.get("bufsize") == 131072,
          "iobuf_get_stats: the global small and large pools with the defaults (%s)"
          % [small, large])
    tr = [t for t in (rpc_json("nvmf_get_transports") or []) if t.get("trtype") == "TCP"]
    tcp = [x for n, x in ps.items() if n.startswith("nvmf_tcp")]
    check(len(tr) == 1 and len(tcp) == 1 and tcp[0].get("count") == tr[0].get("num_shared_buffers")
          and tcp[0].get("bufsize") == tr[0].get("io_unit_size"),
          "the TCP transport's own pool: num_shared_buffers of io_unit_size (%s)" % tcp)
    check(all(x.get("free", -1) + x.get("cache_granted", 0) >= 1 and
              x.get("cache_granted", 0) < x.get("count", 0) for x in ps.values()),
          "no pool grants its whole count to caches")
    r = raw_call("iobuf_set_options", {"small_pool_count": 100})
    check("error" in r and "start" in r["error"].get("message", ""),
          "iobuf_set_options at run time is refused and says when it works (%s)" % r)


def test_save_restart(p):
    print("save_config -> restart with --json -> the same")
    before = subsystems()
    cfg = rpc_json("save_config")
    nvmf = [s for s in (cfg or {}).get("subsystems", []) if s.get("subsystem") == "nvmf"]
    check(len(nvmf) == 1, "save_config has an nvmf entry")
    methods = [c["method"] for c in (nvmf[0]["config"] if nvmf else [])]
    check(methods.count("nvmf_create_subsystem") == 2 and
          methods.count("nvmf_subsystem_add_ns") == 3 and
          methods.count("nvmf_subsystem_add_host") == 1 and
          methods.count("nvmf_create_transport") == 1 and
          methods.count("nvmf_subsystem_add_listener") == 1,
          "nvmf config: 2 subsystems, 3 namespaces, 1 host (%s)" % methods)
    names = [s.get("subsystem") for s in (cfg or {}).get("subsystems", [])]
    check("bdev" in names and "nvmf" in names and names.index("bdev") < names.index("nvmf"),
          "bdev comes before nvmf in the saved config")
    check("iobuf" in names and names.index("iobuf") < names.index("bdev"),
          "iobuf comes before bdev in the saved config")
    for s in (cfg or {}).get("subsystems", []):
        for c in s.get("config") or []:
            if c.get("method") == "iobuf_set_options":
                c["params"]["small_pool_count"] = 4095
            if c.get("method") == "bdev_set_options":
                c["params"].pop("small_buf_pool_size", None)
    path = os.path.join(TMP, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc = stop_tgt(p)
    check(rc == 0, "osprey_tgt exits 0 on SIGTERM (%s)" % rc)
    p = start_tgt("--json", path)
    after = subsystems()
    check(after == before, "same subsystems after the restart")
    check(pools().get("iobuf_small", {}).get("count") == 4095,
          "iobuf_set_options from the --json config sized the small pool (4095)")
    if after != before:
        print("    before: %s\n    after:  %s" % (json.dumps(before), json.dumps(after)))
    return p


def test_hot_remove(p):
    print("deleting a bdev removes its namespaces")
    rpc_run("bdev_malloc_delete Malloc1", "bdev_malloc_delete", "Malloc1")
    rpc_run("bdev_malloc_delete Malloc2", "bdev_malloc_delete", "Malloc2")
    ok = False
    deadline = time.time() + 10
    while time.time() < deadline and not ok:
        subs = subsystems()
        ok = ([n["nsid"] for n in subs.get(NQN1, {}).get("namespaces", [])] == [1] and
              subs.get(NQN2, {}).get("namespaces") == [])
        time.sleep(0.05)
    check(ok, "namespace 5 of cnode1 and 1 of cnode2 are gone, nsid 1 of cnode1 stays")
    rpc_run("nvmf_subsystem_remove_ns cnode1 1", "nvmf_subsystem_remove_ns", NQN1, "1")
    check(subsystems().get(NQN1, {}).get("namespaces") == [], "cnode1 has no namespace")
    # Removing the namespace released its claim: the bdev can back another one.
    deadline = time.time() + 5
    r = {}
    while time.time() < deadline:
        r = raw_call("nvmf_subsystem_add_ns", {"nqn": NQN2, "namespace": {"bdev_name": "Malloc0"}})
        if "being removed" not in json.dumps(r):
            break
        time.sleep(0.05)
    check(r.get("result") == 1, "Malloc0 moves to cnode2, reusing nsid 1 (%s)" % r)
    rpc_run("nvmf_subsystem_remove_host", "nvmf_subsystem_remove_host", NQN2, HOST1)
    check(subsystems().get(NQN2, {}).get("hosts") == [], "cnode2 has no host")
    rpc_run("nvmf_delete_subsystem cnode1", "nvmf_delete_subsystem", NQN1)
    rpc_run("nvmf_delete_subsystem cnode2", "nvmf_delete_subsystem", NQN2)
    check(list(subsystems()) == [DISC], "only the discovery subsystem is left")
    # The bdev is free again once no namespace holds it.
    rpc_run("bdev_malloc_delete Malloc0", "bdev_malloc_delete", "Malloc0")


def body():
    p = start_tgt()
    test_empty_target(p)
    test_build(p)
    test_bad_input(p)
    test_iobuf(p)
    p = test_save_restart(p)
    test_hot_remove(p)
    rc = stop_tgt(p)
    check(rc == 0, "osprey_tgt exits 0 at the end (%s)" % rc)


if __name__ == "__main__":
    sys.exit(run(body))

#!/usr/bin/env python3
"""End-to-end test of the bdev modules malloc, null, passthru, split, delay and
error: osprey_tgt driven with scripts/rpc.py (SPDK's command-line forms) and raw
JSON-RPC for inputs rpc.py refuses to send.

Covers creation and deletion of every type, what bdev_get_bdevs reports,
virtual bdevs whose base appears later, hot removal of bases, save_config ->
restart with --json -> the same bdevs, and bad input answered with a clear
error while the daemon keeps serving. Prints "N passed, N failed" last and
exits non-zero on failure. Only processes it started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the osprey_tgt to test.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import *  # noqa: E402,F401,F403  (check, start_tgt, rpc, ...)


def bdevs():
    """name -> bdev_get_bdevs entry."""
    out = rpc_json("bdev_get_bdevs") or []
    return {b.get("name", {}): b for b in out}


# ---- the tests ----

MiB = 1024 * 1024


def test_malloc_null(p):
    print("malloc and null bdevs")
    check(rpc_out("bdev_malloc_create", "-b", "Malloc0", "8", "512") == "Malloc0",
          "bdev_malloc_create -b Malloc0 8 512 prints Malloc0")
    auto = rpc_out("bdev_malloc_create", "4", "4096")
    check(auto is not None and auto.startswith("Malloc") and auto != "Malloc0",
          "bdev_malloc_create without a name picks MallocN (%s)" % auto)
    uuid = "8a3c1e7e-3b2f-4c55-9d6e-0123456789ab"
    check(rpc_out("bdev_malloc_create", "-b", "MallocU", "-u", uuid, "-o", "8", "2", "4096")
          == "MallocU", "bdev_malloc_create with uuid and optimal io boundary")
    b = bdevs()
    m0 = b.get("Malloc0", {})
    check(m0.get("num_blocks") == 8 * MiB // 512 and m0.get("block_size") == 512,
          "Malloc0 has 16384 blocks of 512 bytes (%s/%s)"
          % (m0.get("num_blocks"), m0.get("block_size")))
    check(m0.get("product_name") == "Malloc disk", "Malloc0 product name 'Malloc disk'")
    sup = m0.get("supported_io_types", {})
    check(all(sup.get(t) for t in ("read", "write", "unmap", "write_zeroes", "flush", "reset")),
          "malloc supports read/write/unmap/write_zeroes/flush/reset (%s)" % sup)
    mu = b.get("MallocU", {})
    check(mu.get("uuid") == uuid, "MallocU keeps its uuid (%s)" % mu.get("uuid"))
    check(mu.get("optimal_io_boundary", 8) == 8, "MallocU optimal_io_boundary 8")

    check(rpc_out("bdev_null_create", "Null0", "64", "4096") == "Null0",
          "bdev_null_create Null0 64 4096 prints Null0")
    n0 = bdevs().get("Null0", {})
    check(n0.get("num_blocks") == 64 * MiB // 4096 and n0.get("block_size") == 4096,
          "Null0 has 16384 blocks of 4096 bytes")
    check(rpc_ok("bdev_null_resize", "Null0", "128"), "bdev_null_resize Null0 128")
    n0 = bdevs().get("Null0", {})
    check(n0.get("num_blocks") == 128 * MiB // 4096, "Null0 grew to 128 MiB (%s blocks)"
          % n0.get("num_blocks"))
    check(rpc_out("bdev_null_create", "NullDel", "1", "512") == "NullDel", "bdev_null_create NullDel")
    check(rpc_ok("bdev_null_delete", "NullDel") and "NullDel" not in bdevs(),
          "bdev_null_delete NullDel removes it")
    check(rpc_ok("bdev_malloc_delete", auto) and auto not in bdevs(),
          "bdev_malloc_delete %s removes it" % auto)


def test_virtual(p):
    print("passthru, split, delay and error bdevs on existing bases")
    check(rpc_out("bdev_passthru_create", "-b", "Malloc0", "-p", "PT0") == "PT0",
          "bdev_passthru_create -b Malloc0 -p PT0 prints PT0")
    b = bdevs()
    pt = b.get("PT0", {})
    check(pt.get("num_blocks") == b.get("Malloc0", {}).get("num_blocks") and pt.get("block_size") == 512,
          "PT0 has its base's geometry")
    check(b.get("Malloc0", {}).get("claimed") is True, "Malloc0 is claimed by the passthru")
    check(pt.get("driver_specific", {}).get("passthru", {}).get("base_bdev_name") == "Malloc0",
          "PT0 driver_specific names its base")

    out = rpc_out("bdev_split_create", "Null0", "4")
    check(out == "Null0p0 Null0p1 Null0p2 Null0p3", "bdev_split_create Null0 4 prints the parts (%s)"
          % out)
    b = bdevs()
    check(all(b.get("Null0p%d" % i, {}).get("num_blocks") == (b.get("Null0", {}).get("num_blocks") or 0) // 4
              for i in range(4)), "each part holds a quarter of Null0")
    check(b.get("Null0", {}).get("claimed") is True, "Null0 is claimed by split")
    check(rpc_out("bdev_malloc_create", "-b", "Malloc1", "8", "512") == "Malloc1", "Malloc1")
    out = rpc_out("bdev_split_create", "Malloc1", "3", "-s", "2")
    check(out == "Malloc1p0 Malloc1p1 Malloc1p2", "bdev_split_create Malloc1 3 -s 2 (%s)" % out)
    check(bdevs().get("Malloc1p2", {}).get("num_blocks") == 2 * MiB // 512,
          "a 2 MiB part has 4096 blocks of 512")

    check(rpc_out("bdev_malloc_create", "-b", "Malloc2", "4", "512") == "Malloc2", "Malloc2")
    check(rpc_out("bdev_delay_create", "-b", "Malloc2", "-d", "Delay0", "-r", "100", "-t", "200",
                  "-w", "300", "-n", "400") == "Delay0",
          "bdev_delay_create -b Malloc2 -d Delay0 ... prints Delay0")
    check(rpc_ok("bdev_delay_update_latency", "Delay0", "avg_read", "150"),
          "bdev_delay_update_latency Delay0 avg_read 150")
    d = bdevs().get("Delay0", {}).get("driver_specific", {}).get("delay", {})
    check(d.get("avg_read_latency") == 150 and d.get("p99_write_latency") == 400,
          "Delay0 reports its latencies (%s)" % d)

    check(rpc_out("bdev_malloc_create", "-b", "Malloc3", "4", "512") == "Malloc3", "Malloc3")
    check(rpc_ok("bdev_error_create", "Malloc3"), "bdev_error_create Malloc3")
    check("EE_Malloc3" in bdevs(), "EE_Malloc3 exists")
    check(rpc_ok("bdev_error_inject_error", "EE_Malloc3", "write", "failure", "-n", "3"),
          "bdev_error_inject_error EE_Malloc3 write failure -n 3")
    check(rpc_ok("bdev_error_inject_error", "EE_Malloc3", "all", "pending"),
          "bdev_error_inject_error EE_Malloc3 all pending")
    check(rpc_ok("bdev_error_inject_error", "EE_Malloc3", "read", "corrupt_data", "-o", "4",
                 "-v", "255"), "inject read corrupt_data -o 4 -v 255")
    check(rpc_ok("bdev_error_inject_error", "EE_Malloc3", "clear", "failure"),
          "bdev_error_inject_error EE_Malloc3 clear failure")

    # Stacking: a passthru on a split part, an error bdev on a passthru.
    check(rpc_out("bdev_passthru_create", "-b", "Null0p1", "-p", "PTpart") == "PTpart",
          "passthru on a split part")
    check(rpc_ok("bdev_error_create", "PTpart") and "EE_PTpart" in bdevs(),
          "error bdev on that passthru (EE_PTpart)")


def test_deferred(p):
    print("virtual bdevs configured before their base exists")
    check(rpc_out("bdev_passthru_create", "-b", "Late0", "-p", "PTLate") == "PTLate",
          "bdev_passthru_create on a missing base succeeds (waits, as in SPDK)")
    check(rpc_json("bdev_split_create", "Late1", "2") in ([], None) and
          rpc_ok("bdev_get_bdevs"), "bdev_split_create on a missing base waits")
    check(rpc_out("bdev_delay_create", "-b", "Late2", "-d", "DelayLate", "-r", "10", "-t", "20",
                  "-w", "10", "-n", "20") == "DelayLate", "bdev_delay_create on a missing base waits")
    check(rpc_ok("bdev_error_create", "Late3"), "bdev_error_create on a missing base waits")
    b = bdevs()
    check(not any(n in b for n in ("PTLate", "Late1p0", "DelayLate", "EE_Late3")),
          "none of them exists yet")
    for base in ("Late0", "Late1", "Late2", "Late3"):
        rpc_out("bdev_malloc_create", "-b", base, "2", "512")
    b = bdevs()
    check("PTLate" in b and b.get("Late0", {}).get("claimed") is True, "PTLate built when Late0 appeared")
    check("Late1p0" in b and "Late1p1" in b, "Late1 split when it appeared")
    check("DelayLate" in b, "DelayLate built when Late2 appeared")
    check("EE_Late3" in b, "EE_Late3 built when Late3 appeared")
    # A passthru still waiting at save time must survive a restart too.
    check(rpc_out("bdev_passthru_create", "-b", "Never0", "-p", "PTNever") == "PTNever",
          "PTNever waits for Never0")


def test_bad_input(p):
    print("bad input gets a clear error and the daemon goes on")
    check_error(p, "duplicate malloc name", ("bdev_malloc_create", "-b", "Malloc0", "1", "512"),
                "Malloc0", "already exists")
    check_error(p, "duplicate null name (name of a malloc)", ("bdev_null_create", "Malloc0", "1", "512"),
                "Malloc0", "already exists")
    check_error(p, "block size 1000", ("bdev_malloc_create", "-b", "Bad0", "1", "1000"),
                "block_size", "power of two")
    check_error(p, "block size 256", ("bdev_null_create", "Bad1", "1", "256"),
                "block_size", "512")
    check_error(p, "zero blocks (malloc)", None, "num_blocks",
                raw=("bdev_malloc_create", {"name": "Bad2", "num_blocks": 0, "block_size": 512}))
    check_error(p, "zero blocks (null)", None, "num_blocks",
                raw=("bdev_null_create", {"name": "Bad3", "num_blocks": 0, "block_size": 512}))
    check_error(p, "negative num_blocks", None, "num_blocks",
                raw=("bdev_malloc_create", {"name": "Bad4", "num_blocks": -5, "block_size": 512}))
    check_error(p, "unknown parameter", None, "bogus",
                raw=("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "bogus": 1}))
    check_error(p, "missing block_size", None, "block_size",
                raw=("bdev_null_create", {"name": "Bad5", "num_blocks": 8}))
    check_error(p, "bad uuid", ("bdev_malloc_create", "-b", "Bad6", "-u", "not-a-uuid", "1", "512"),
                "uuid")
    check_error(p, "metadata not supported", ("bdev_malloc_create", "-b", "Bad7", "-m", "8", "1", "512"),
                "md_size")
    check_error(p, "malloc bigger than memory", None, "memory",
                raw=("bdev_malloc_create", {"name": "Huge", "num_blocks": 1 << 40, "block_size": 4096}))
    check_error(p, "split count 0", ("bdev_split_create", "Malloc2", "0"), "split_count")
    check_error(p, "split size too large", ("bdev_split_create", "MallocU", "2", "-s", "1000"),
                "not fit")
    check_error(p, "split of a claimed base", ("bdev_split_create", "Malloc0", "2"),
                "Malloc0", "claimed")
    check_error(p, "splitting a bdev twice", ("bdev_split_create", "Null0", "2"),
                "Null0", "already split")
    check_error(p, "passthru on a claimed base", ("bdev_passthru_create", "-b", "Malloc0", "-p", "PT9"),
                "claimed")
    check_error(p, "passthru with a taken name", ("bdev_passthru_create", "-b", "MallocU", "-p", "Malloc0"),
                "Malloc0", "already exists")
    check_error(p, "delay with a taken name", ("bdev_delay_create", "-b", "MallocU", "-d", "PT0",
                                               "-r", "1", "-t", "1", "-w", "1", "-n", "1"),
                "PT0", "already exists")
    check_error(p, "second error bdev on a base", ("bdev_error_create", "Malloc3"),
                "EE_Malloc3", "already exists")
    check_error(p, "bad latency type", None, "latency_type",
                raw=("bdev_delay_update_latency", {"delay_bdev_name": "Delay0",
                                                   "latency_type": "median", "latency_us": 5}))
    check_error(p, "latency of a missing delay bdev", ("bdev_delay_update_latency", "Nope",
                                                       "avg_read", "5"), "Nope")
    check_error(p, "bad io_type", ("bdev_error_inject_error", "EE_Malloc3", "zap", "failure"),
                "io_type")
    check_error(p, "bad error_type", ("bdev_error_inject_error", "EE_Malloc3", "read", "explode"),
                "error_type")
    check_error(p, "corrupt_data without a value", ("bdev_error_inject_error", "EE_Malloc3", "read",
                                                    "corrupt_data"), "corrupt_value")
    check_error(p, "inject into a missing error bdev", ("bdev_error_inject_error", "EE_Nope", "read",
                                                         "failure"), "EE_Nope")
    check_error(p, "resize a missing null bdev", ("bdev_null_resize", "Nope", "8"), "Nope")
    for cmd in ("bdev_malloc_delete", "bdev_null_delete", "bdev_passthru_delete",
                "bdev_delay_delete", "bdev_error_delete"):
        check_error(p, "%s of a missing bdev" % cmd, (cmd, "Nope"), "Nope")
    check_error(p, "bdev_malloc_delete of a null bdev", ("bdev_malloc_delete", "Null0"), "Null0")
    check_error(p, "bdev_split_delete of an unsplit bdev", ("bdev_split_delete", "Malloc2"), "Malloc2")
    # Names: an embedded NUL is refused (not cut to "a"), so are control
    # characters and names past the documented 255-byte limit.
    check_error(p, "malloc name with an embedded NUL", None, "name", "NUL",
                raw=("bdev_malloc_create", {"name": "a\u0000b", "num_blocks": 8, "block_size": 512}))
    check(raw_call("bdev_get_bdevs", {"name": "a"}).get("error") is not None,
          "no bdev 'a' was created from 'a\\u0000b'")
    check_error(p, "malloc name of 10000 characters", None, "name", "limit is 255",
                raw=("bdev_malloc_create", {"name": "n" * 10000, "num_blocks": 8, "block_size": 512}))
    check_error(p, "null name with a newline", None, "name", "control character",
                raw=("bdev_null_create", {"name": "x\ny", "num_blocks": 8, "block_size": 512}))
    check_error(p, "passthru name with a tab", None, "",
                raw=("bdev_passthru_create", {"base_bdev_name": "MallocU", "name": "P\tT"}))


def snapshot():
    """What a restart must reproduce: name -> (num_blocks, block_size, uuid, claimed)."""
    return {n: (b.get("num_blocks"), b.get("block_size"), b.get("uuid"), b.get("claimed"))
            for n, b in bdevs().items()}


def test_save_restart(p):
    print("save_config -> restart with --json -> the same bdevs")
    before = snapshot()
    cfg_path = os.path.join(TMP, "config.json")
    r = rpc("save_config", "-o", cfg_path)
    check(r.returncode == 0 and os.path.exists(cfg_path), "save_config -o %s" % cfg_path)
    with open(cfg_path) as f:
        cfg = json.load(f)
    bdev_cfg = [s for s in cfg.get("subsystems", []) if s.get("subsystem") == "bdev"]
    methods = [c["method"] for s in bdev_cfg for c in (s.get("config") or [])]
    for m in ("bdev_malloc_create", "bdev_null_create", "bdev_passthru_create",
              "bdev_split_create", "bdev_delay_create", "bdev_error_create"):
        check(m in methods, "saved config holds %s" % m)
    check(methods.count("bdev_split_create") == 3,
          "one bdev_split_create per split, not per part (%d)" % methods.count("bdev_split_create"))
    check(any(c["method"] == "bdev_passthru_create" and c["params"].get("name") == "PTNever"
              for s in bdev_cfg for c in s.get("config") or []),
          "a passthru still waiting for its base is saved too")
    rc = stop_tgt(p)
    check(rc == 0, "osprey_tgt exits 0 on SIGTERM with every module's bdevs (rc %s)" % rc)
    p2 = start_tgt("--json", cfg_path)
    after = snapshot()
    check(after == before, "the restarted daemon has the same bdevs, sizes, uuids and claims")
    if after != before:
        for n in sorted(set(before) | set(after)):
            if before.get(n) != after.get(n):
                print("    %s: before %s after %s" % (n, before.get(n), after.get(n)))
    check(rpc_out("bdev_malloc_create", "-b", "Never0", "1", "512") == "Never0" and
          "PTNever" in bdevs(), "the restored waiting passthru is built when its base appears")
    return p2


def test_hot_remove(p):
    print("deleting a base removes what is built on it")
    check(rpc_ok("bdev_malloc_delete", "Malloc0"), "bdev_malloc_delete Malloc0 (under PT0)")
    check(wait_for(lambda: "PT0" not in bdevs() and "Malloc0" not in bdevs()),
          "PT0 is gone with Malloc0")
    check(rpc_ok("bdev_null_delete", "Null0"), "bdev_null_delete Null0 (split, with a stack on a part)")
    check(wait_for(lambda: not any(n.startswith("Null0p") or n in ("PTpart", "EE_PTpart")
                                   for n in bdevs())),
          "its parts and the stack on Null0p1 are gone")
    check(rpc_ok("bdev_malloc_delete", "Malloc2"), "bdev_malloc_delete Malloc2 (under Delay0)")
    check(wait_for(lambda: "Delay0" not in bdevs()), "Delay0 is gone")
    check(rpc_ok("bdev_malloc_delete", "Malloc3"), "bdev_malloc_delete Malloc3 (under EE_Malloc3)")
    check(wait_for(lambda: "EE_Malloc3" not in bdevs()), "EE_Malloc3 is gone")
    # The passthru's config outlives its base, so it returns with the base (SPDK does the same).
    check(rpc_out("bdev_malloc_create", "-b", "Malloc0", "8", "512") == "Malloc0" and
          "PT0" in bdevs(), "PT0 is rebuilt when Malloc0 comes back")
    check(alive(p), "daemon still serving after the hot removals")


def test_deletes(p):
    print("deleting virtual bdevs releases their bases")
    check(rpc_ok("bdev_passthru_delete", "PT0") and "PT0" not in bdevs(), "bdev_passthru_delete PT0")
    check(bdevs().get("Malloc0", {}).get("claimed") is False, "Malloc0 is no longer claimed")
    check(rpc_ok("bdev_split_delete", "Malloc1"), "bdev_split_delete Malloc1")
    b = bdevs()
    check(not any(n.startswith("Malloc1p") for n in b) and b.get("Malloc1", {}).get("claimed") is False,
          "Malloc1's parts are gone and it is free")
    check(rpc_ok("bdev_delay_delete", "DelayLate") and "DelayLate" not in bdevs(),
          "bdev_delay_delete DelayLate")
    check(rpc_ok("bdev_error_delete", "EE_Late3") and "EE_Late3" not in bdevs(),
          "bdev_error_delete EE_Late3")
    check(rpc_ok("bdev_passthru_delete", "PTLate") and rpc_ok("bdev_split_delete", "Late1"),
          "delete the other late ones")
    b = bdevs()
    check(all(b.get(n, {}).get("claimed") is False for n in ("Late0", "Late1", "Late2", "Late3")),
          "every Late base is free again")
    # Deleted configs must not come back: recreate a base, nothing appears on it.
    rpc_ok("bdev_malloc_delete", "Late2")
    check(rpc_out("bdev_malloc_create", "-b", "Late2", "1", "512") == "Late2" and
          "DelayLate" not in bdevs(), "a deleted delay bdev does not come back with its base")
    check(alive(p), "daemon still serving")


def body():
    p = start_tgt()
    test_malloc_null(p)
    test_virtual(p)
    test_deferred(p)
    test_bad_input(p)
    p = test_save_restart(p)
    test_hot_remove(p)
    test_deletes(p)
    rc = stop_tgt(p)
    check(rc == 0, "osprey_tgt exits 0 on SIGTERM (rc %s)" % rc)


if __name__ == "__main__":
    sys.exit(run(body))

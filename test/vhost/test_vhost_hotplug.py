#!/usr/bin/env python3
"""End-to-end test of bdev hot remove and resize under a vhost-user-blk
controller, and of the packed_ring option, with Osprey's vhost-user front end
(bdev_virtio, in bdevperf and in osprey_tgt) as the driver, no guest:

- hot remove: bdevperf writes through the controller while bdev_malloc_delete
  removes its bdev. The RPC completes (the controller closed the bdev once
  its I/O was back), the controller stays (vhost_get_controllers: bdev null,
  removed_bdev named), bdevperf ends on its own with failed I/O (IOERR from
  the back end) instead of hanging, the daemon keeps serving, save_config
  leaves the controller out, a new front end still attaches and gets errors,
  and vhost_delete_controller removes it; the name can be used again;
- resize: bdev_null_resize grows the bdev behind a connected controller; a
  front end attaching afterwards reads the new capacity (GET_CONFIG), the
  connected one (which takes no config-change messages) is not disturbed;
- packed_ring: accepted, shown in vhost_get_controllers and save_config; a
  split-only front end still works (the driver picks the layout).
Prints "N passed, N failed".
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import (BIN_DIR, TMP, check, procs, raw_call, rpc, rpc_json,  # noqa: E402
                     run, start_tgt, stop_tgt, tgt_log, wait_for)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhost_e2e  # noqa: E402
from vhost_e2e import total_line  # noqa: E402
from vhost_e2e import alive as vhost_alive  # noqa: E402

VHOST = os.path.join(BIN_DIR, "vhost")
BDEVPERF = os.path.join(BIN_DIR, "bdevperf")
VSOCK = os.path.join(TMP, "vhost_hp_rpc.sock")
SOCKDIR = vhost_e2e.SOCKDIR
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def start_vhost():
    return vhost_e2e.start_vhost("vhost_hp_%d" % len(procs), sock=VSOCK)

def vcall(method, params=None, timeout=20):
    return raw_call(method, params, sock=VSOCK, timeout=timeout)


def ctrlr_info(name):
    r = vcall("vhost_get_controllers", {"name": name}).get("result")
    return r[0] if r else None


def write_cfg(path, name, sock):
    with open(path, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_virtio_attach_controller",
             "params": {"name": name, "trtype": "user", "traddr": sock, "dev_type": "blk",
                        "vq_count": 1}}]}]}, f)


def hot_remove(v, cpumask=None):
    print("-- hot remove under I/O%s" % (" (cpumask %s: the queue on a thread of its own)" % cpumask
                                         if cpumask else ""))
    check("result" in vcall("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384,
                                                   "block_size": 512}), "malloc bdev")
    closed0 = tgt_log(v).count("bdev Malloc0 closed")
    prm = {"ctrlr": "vb0", "dev_name": "Malloc0"}
    if cpumask:
        prm["cpumask"] = cpumask
    r = vcall("vhost_create_blk_controller", prm)
    check(r.get("result") is True, "vhost_create_blk_controller vb0: %s" % r)
    sock = os.path.join(SOCKDIR, "vb0")
    cfg = os.path.join(TMP, "hp_vb0.json")
    write_cfg(cfg, "VirtioBlk0", sock)
    out_path = os.path.join(TMP, "hp_bdevperf.out")
    with open(out_path, "w+", errors="replace") as out_f:
        bp = subprocess.Popen([BDEVPERF, "--json", cfg, "-m", "0x2", "-q", "32", "-o", "4096",
                               "-w", "randwrite", "-t", "6"], stdout=out_f, stderr=subprocess.STDOUT)
        bp.logfile = out_f
        procs.append(bp)
        conn = wait_for(lambda: (ctrlr_info("vb0") or {}).get("connected"), 15)
        check(conn, "bdevperf connected to vb0")
        req0 = (ctrlr_info("vb0") or {}).get("requests", 0)
        wait_for(lambda: (ctrlr_info("vb0") or {}).get("requests", 0) > req0 + 1000, 10)
        t0 = time.time()
        r = vcall("bdev_malloc_delete", {"name": "Malloc0"}, timeout=15)
        dt = time.time() - t0
        check(r.get("result") is True, "bdev_malloc_delete under I/O completes (%.2f s): %s" % (dt, r))
        info = ctrlr_info("vb0")
        blk = (info or {}).get("backend_specific", {}).get("block", {})
        check(info is not None and "bdev" in blk and blk["bdev"] is None and
              blk.get("removed_bdev") == "Malloc0",
              "vb0 stays, vhost_get_controllers shows the bdev removed: %s" % blk)
        check(info is not None and info.get("connected"), "the front end is still connected")
        errs0 = (info or {}).get("errors", 0)
        check(wait_for(lambda: (ctrlr_info("vb0") or {}).get("errors", 0) > errs0, 5),
              "new requests fail (errors counted: %s)" % (ctrlr_info("vb0") or {}).get("errors"))
        try:
            rc = bp.wait(30)
        except subprocess.TimeoutExpired:
            bp.kill()
            rc = bp.wait()
            check(False, "bdevperf ends on its own after the remove")
        procs.remove(bp)
    out = open(out_path, errors="replace").read()
    t = total_line(out)
    if not check(rc is not None and rc >= 0 and t is not None and t["fail_s"] > 0,
                 "bdevperf ended (rc %s) with failed I/O reported (%s/s), no hang" %
                 (rc, t and t["fail_s"])):
        print(out[-2000:])
    bad = [k for k in SANITIZER if k in out]
    check(not bad, "no sanitizer report from bdevperf")
    check(vhost_alive(v), "vhost still serving")
    log = tgt_log(v)
    check(log.count("bdev Malloc0 closed") == closed0 + 1, "the controller closed the bdev (log)")

    sc = vcall("save_config").get("result") or {}
    blk_cfg = [c for s in sc.get("subsystems", []) for c in (s.get("config") or [])
               if c.get("method") == "vhost_create_blk_controller"]
    check(not any(c["params"].get("ctrlr") == "vb0" for c in blk_cfg),
          "save_config leaves out the controller without a bdev")

    # A new front end attaches to the controller without a bdev: it sees the
    # disk (same config) and its I/O fails.
    rc2 = subprocess.run([BDEVPERF, "--json", cfg, "-m", "0x2", "-q", "4", "-o", "4096",
                          "-w", "randread", "-t", "1"], capture_output=True, text=True, timeout=40)
    t = total_line(rc2.stdout + rc2.stderr)
    check(t is not None and t["fail_s"] > 0 and t["iops"] == 0,
          "a new front end's reads fail (IOERR), it does not hang: %s" % t)

    r = vcall("vhost_delete_controller", {"ctrlr": "vb0"})
    check(r.get("result") is True, "vhost_delete_controller after the remove: %s" % r)
    check(not os.path.exists(sock), "socket removed")
    check("result" in vcall("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384,
                                                   "block_size": 512}), "Malloc0 again")
    r = vcall("vhost_create_blk_controller", prm)
    check(r.get("result") is True, "vb0 again on the new Malloc0")
    rc3 = subprocess.run([BDEVPERF, "--json", cfg, "-m", "0x2", "-q", "16", "-o", "4096",
                          "-w", "verify", "-t", "1"], capture_output=True, text=True, timeout=40)
    t = total_line(rc3.stdout + rc3.stderr)
    check(rc3.returncode == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
          "verify on the new vb0: no failures")
    # Removed while no front end is connected: closed at once.
    check(vcall("bdev_malloc_delete", {"name": "Malloc0"}).get("result") is True,
          "bdev_malloc_delete with no front end connected")
    blk = (ctrlr_info("vb0") or {}).get("backend_specific", {}).get("block", {})
    check(blk.get("bdev", "x") is None, "vb0 shows its bdev removed")
    check(vcall("vhost_delete_controller", {"ctrlr": "vb0"}).get("result") is True, "vb0 deleted")


def resize(v):
    print("-- resize")
    check("result" in vcall("bdev_null_create", {"name": "Null0", "num_blocks": 131072,
                                                 "block_size": 512}), "null bdev (64 MiB)")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vb1", "dev_name": "Null0"})
    check(r.get("result") is True, "vb1 on Null0")
    sock = os.path.join(SOCKDIR, "vb1")
    tgt = start_tgt()
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "blk", "VirtioR0")
    check(r.returncode == 0, "osprey_tgt attached to vb1")
    b = rpc_json("bdev_get_bdevs", "-b", "VirtioR0")
    check(b is not None and b[0]["num_blocks"] == 131072, "front end sees 131072 blocks")
    r = vcall("bdev_null_resize", {"name": "Null0", "new_size": 128})
    check("result" in r, "bdev_null_resize Null0 128 MiB: %s" % r)
    check(wait_for(lambda: "resized from 131072 to 262144 blocks" in tgt_log(v), 5),
          "the controller took the new size (log)")
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "blk", "VirtioR1")
    check(r.returncode == 0, "a second front end attaches to vb1")
    b = rpc_json("bdev_get_bdevs", "-b", "VirtioR1")
    check(b is not None and b[0]["num_blocks"] == 262144,
          "the new front end reads the new capacity (GET_CONFIG): %s" % (b and b[0]["num_blocks"]))
    check(tgt.poll() is None and rpc("spdk_get_version").returncode == 0, "osprey_tgt still serving")
    check(vhost_alive(v), "vhost still serving")
    check(stop_tgt(tgt) == 0, "osprey_tgt exits 0")
    check(vcall("vhost_delete_controller", {"ctrlr": "vb1"}).get("result") is True, "vb1 deleted")


def packed(v):
    print("-- packed_ring option")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vbp", "dev_name": "Null0", "packed_ring": True})
    check(r.get("result") is True, "packed_ring: true accepted: %s" % r)
    blk = (ctrlr_info("vbp") or {}).get("backend_specific", {}).get("block", {})
    check(blk.get("packed_ring") is True, "vhost_get_controllers shows packed_ring")
    sc = vcall("save_config").get("result") or {}
    blk_cfg = [c for s in sc.get("subsystems", []) for c in (s.get("config") or [])
               if c.get("method") == "vhost_create_blk_controller"]
    check(any(c["params"].get("ctrlr") == "vbp" and c["params"].get("packed_ring") is True
              for c in blk_cfg), "save_config keeps packed_ring")
    cfg = os.path.join(TMP, "hp_vbp.json")
    write_cfg(cfg, "VirtioP0", os.path.join(SOCKDIR, "vbp"))
    r = subprocess.run([BDEVPERF, "--json", cfg, "-m", "0x2", "-q", "16", "-o", "4096",
                        "-w", "randread", "-t", "1"], capture_output=True, text=True, timeout=40)
    t = total_line(r.stdout + r.stderr)
    check(r.returncode == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
          "a split-only front end on a packed-offering controller: no failures")
    check(vcall("vhost_delete_controller", {"ctrlr": "vbp"}).get("result") is True, "vbp deleted")


def body():
    v = start_vhost()
    hot_remove(v)
    hot_remove(v, "0x1")
    resize(v)
    packed(v)
    check(stop_tgt(v) == 0, "vhost exits 0 on SIGTERM")
    log = tgt_log(v)
    bad = [k for k in SANITIZER if k in log]
    check(not bad, "no sanitizer report in the vhost log %s" % bad)


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

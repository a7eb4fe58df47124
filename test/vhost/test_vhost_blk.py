#!/usr/bin/env python3
"""End-to-end test of the vhost target (lib/vhost, app/vhost) with Osprey's
vhost-user front end (bdev_virtio) as the driver, no guest:

- the vhost app (-S <dir>) serves a malloc bdev through vhost_create_blk_controller;
  bad parameters get clear JSON-RPC errors and the app goes on serving;
- bdevperf (front end: bdev_virtio_attach_controller -t user -d blk) runs
  verify over the controller (1 queue, then 2 queues on 2 cores), unmap,
  write_zeroes, flush: no failures; the back end counted the requests;
- osprey_tgt attaches as front end, vhost_delete_controller runs while it is
  attached: the front end sees the back end go (its bdev is unregistered),
  nobody crashes, the socket file is gone;
- SIGTERM stops the vhost app cleanly with a controller still connected.
Prints "N passed, N failed".
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import (TMP, check, raw_call, rpc, rpc_json, run, start_tgt,  # noqa: E402
                     stop_tgt, tgt_log, wait_for)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vhost_e2e import SOCKDIR, bdevperf, total_line  # noqa: E402
from vhost_e2e import alive as vhost_alive  # noqa: E402
from vhost_e2e import check_rpc_error as verr  # noqa: E402
from vhost_e2e import start_vhost as _start_vhost  # noqa: E402

VSOCK = os.path.join(TMP, "vhost_rpc.sock")


def start_vhost():
    return _start_vhost("vhost", sock=VSOCK)


def vcall(method, params=None):
    return raw_call(method, params, sock=VSOCK)


def attach_params(name, sock):
    return {"name": name, "trtype": "user", "traddr": sock, "dev_type": "blk", "vq_count": 1}


def body():
    v = start_vhost()
    check("result" in vcall("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384,
                                                   "block_size": 512}), "malloc bdev on vhost")
    print("-- bad parameters")
    verr(v, "unknown bdev", "vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "nosuch"},
         "nosuch", "bdev")
    verr(v, "missing dev_name", "vhost_create_blk_controller", {"ctrlr": "vb0"}, "dev_name")
    verr(v, "ctrlr with '/'", "vhost_create_blk_controller", {"ctrlr": "a/b", "dev_name": "Malloc0"},
         "ctrlr")
    verr(v, "cpumask with a core the app does not run on", "vhost_create_blk_controller",
         {"ctrlr": "vb0", "dev_name": "Malloc0", "cpumask": "0x2"}, "cpumask", "core 1")
    verr(v, "cpumask that does not parse", "vhost_create_blk_controller",
         {"ctrlr": "vb0", "dev_name": "Malloc0", "cpumask": "zz"}, "cpumask")
    verr(v, "delete unknown", "vhost_delete_controller", {"ctrlr": "nosuch"}, "nosuch")

    print("-- create, bdevperf verify through the front end")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "Malloc0"})
    check(r.get("result") is True, "vhost_create_blk_controller vb0: %s" % r)
    sock = os.path.join(SOCKDIR, "vb0")
    check(os.path.exists(sock), "socket created in the -S directory")
    verr(v, "same ctrlr twice", "vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "Malloc0"},
         "already exists")
    g = vcall("vhost_get_controllers").get("result") or []
    check(len(g) == 1 and g[0]["ctrlr"] == "vb0" and g[0]["socket"] == sock and
          g[0]["backend_specific"]["block"]["bdev"] == "Malloc0", "vhost_get_controllers lists vb0")
    cfg = os.path.join(TMP, "vb.json")
    with open(cfg, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_virtio_attach_controller", "params": attach_params("VirtioBlk0", sock)}]}]}, f)
    rc, out = bdevperf(cfg, "-m", "0x2", "-q", "32", "-o", "4096", "-w", "verify", "-t", "2")
    t = total_line(out)
    if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
                 "bdevperf verify over vhost-user-blk: %s IOPS, no failures" % (t and t["iops"])):
        print(out[-2000:])
    cfg2 = os.path.join(TMP, "vb2.json")
    p2 = attach_params("VirtioBlk0", sock)
    p2["vq_count"] = 2
    with open(cfg2, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_virtio_attach_controller", "params": p2}]}]}, f)
    rc, out = bdevperf(cfg2, "-m", "0x3", "-C", "-q", "16", "-o", "4096", "-w", "verify", "-t", "1")
    t = total_line(out)
    if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0 and
                 "2 queue(s)" in out, "2 queues (bdevperf -C on 2 cores): no failures"):
        print(out[-2000:])
    check("queue 1 started (2 queue(s))" in tgt_log(v), "vhost served queue 1 (started after the device)")
    rc, out = bdevperf(cfg, "-m", "0x2", "-q", "8", "-o", "65536", "-w", "verify", "-t", "1")
    t = total_line(out)
    check(rc == 0 and t is not None and t["fail_s"] == 0, "64 KiB verify: no failures")
    for wl in ("unmap", "write_zeroes", "flush"):
        rc, out = bdevperf(cfg, "-m", "0x2", "-q", "4", "-o", "65536", "-w", wl, "-t", "1")
        t = total_line(out)
        check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
              "%s: %s IOPS, no failures" % (wl, t and t["iops"]))
    g = vcall("vhost_get_controllers", {"name": "vb0"}).get("result") or [{}]
    check(g[0].get("requests", 0) > 0 and g[0].get("errors") == 0 and not g[0].get("connected"),
          "back end counted %s requests, 0 errors, front end gone" % g[0].get("requests"))

    print("-- read-only controller")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vro", "dev_name": "Malloc0", "readonly": True})
    check(r.get("result") is True, "readonly controller created: %s" % r)
    cfg_ro = os.path.join(TMP, "vro.json")
    with open(cfg_ro, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": "bdev_virtio_attach_controller",
             "params": attach_params("VirtioBlk1", os.path.join(SOCKDIR, "vro"))}]}]}, f)
    rc, out = bdevperf(cfg_ro, "-m", "0x2", "-q", "8", "-o", "4096", "-w", "randread", "-t", "1")
    t = total_line(out)
    check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0, "reads on a readonly controller")
    check("result" in vcall("vhost_delete_controller", {"ctrlr": "vro"}), "delete vro")

    print("-- delete with the front end attached")
    tgt = start_tgt()
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "blk", "VirtioBlk0")
    check(r.returncode == 0, "osprey_tgt attached to vb0")
    check(wait_for(lambda: (vcall("vhost_get_controllers").get("result") or [{}])[0].get("connected"), 5),
          "vb0 shows connected")
    b = rpc_json("bdev_get_bdevs", "-b", "VirtioBlk0")
    check(b is not None and b[0]["num_blocks"] == 16384 and b[0]["block_size"] == 512,
          "front end sees the malloc geometry through GET_CONFIG")
    r = vcall("vhost_delete_controller", {"ctrlr": "vb0"})
    check(r.get("result") is True, "vhost_delete_controller with the front end attached: %s" % r)
    check(not os.path.exists(sock), "socket file removed")
    check(wait_for(lambda: rpc("bdev_get_bdevs", "-b", "VirtioBlk0").returncode != 0, 5),
          "front end noticed: VirtioBlk0 unregistered")
    check(tgt.poll() is None and rpc("spdk_get_version").returncode == 0, "osprey_tgt still serving")
    check(vhost_alive(v) and vcall("vhost_get_controllers").get("result") == [], "vhost serving, no controllers")

    print("-- shutdown with a connected controller")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vb2", "dev_name": "Malloc0"})
    check(r.get("result") is True, "vb2 created")
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", os.path.join(SOCKDIR, "vb2"),
            "-d", "blk", "VirtioBlk2")
    check(r.returncode == 0, "osprey_tgt attached to vb2")
    check(stop_tgt(v) == 0, "vhost exits 0 on SIGTERM with a connected controller")
    check(not os.path.exists(os.path.join(SOCKDIR, "vb2")), "vb2 socket removed at shutdown")
    check(stop_tgt(tgt) == 0, "osprey_tgt exits 0")


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

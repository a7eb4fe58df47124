#!/usr/bin/env python3
"""Osprey's virtio-scsi front end (bdev_virtio -d scsi) against Osprey's
vhost-user-scsi target, no guest:

- a scsi controller with disks at targets 0 (512-byte blocks) and 3 (4096):
  the front end scans them into bdevs <name>t0 and <name>t3;
- bdevperf verify over both (4 KiB and 64 KiB), unmap and flush, on one core
  and on two cores (-C, a request queue per core): no failures;
- a null disk added at target 7 is found by a new attach (randread);
- osprey_tgt as the front end: attach by RPC (names answered),
  bdev_virtio_scsi_get_devices, bdev_get_bdevs' virtio fields, save_config
  (one attach call with dev_type scsi), detach takes every bdev of the
  controller, bad parameters;
- a target removed on the vhost side while attached: its I/O fails, the
  other target's I/O goes on;
- the vhost app killed (SIGKILL) under the attached front end: the bdevs go
  away, osprey_tgt keeps serving and exits cleanly;
- cpumask: a vhost app on two cores (-m 0x3) with a scsi controller on both
  (cpumask 0x3, its request queues served by two threads): bdevperf verify
  over 6 request queues from two cores, then a bdev hot removed and a
  target removed on the vhost side while bdevperf verifies the other target
  (no failure there); the vhost app exits cleanly.
Prints "N passed, N failed".
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osp_e2e import TMP, check, rpc, rpc_json, run, start_tgt, stop_tgt, wait_for  # noqa: E402
from vhost_e2e import (SOCKDIR, alive, bdevperf, call, check_rpc_error, start_vhost,  # noqa: E402
                       total_line, write_bdev_config)


def attach(name, sock, vq_count=4):
    return ("bdev_virtio_attach_controller",
            {"name": name, "trtype": "user", "traddr": sock, "dev_type": "scsi",
             "vq_count": vq_count})


def ok_run(rc, out, what):
    t = total_line(out)
    if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
                 "%s: %s IOPS, no failures" % (what, t and int(t["iops"]))):
        print(out[-2500:])


def test_bdevperf(v, sock):
    print("-- bdevperf over virtio-scsi")
    cfg = write_bdev_config(os.path.join(TMP, "vs.json"), [attach("VS", sock)])
    rc, out = bdevperf(cfg, "-m", "0x2", "-q", "32", "-o", "4096", "-w", "verify", "-t", "2")
    ok_run(rc, out, "verify 4 KiB on targets 0 and 3")
    check("VSt0" in out and "VSt3" in out and "VSt1" not in out,
          "bdevs VSt0 and VSt3 scanned (nothing at targets 1, 2)")
    rc, out = bdevperf(cfg, "-m", "0x2", "-q", "8", "-o", "65536", "-w", "verify", "-t", "1")
    ok_run(rc, out, "verify 64 KiB")
    rc, out = bdevperf(cfg, "-m", "0x3", "-C", "-q", "16", "-o", "4096", "-w", "verify", "-t", "1")
    ok_run(rc, out, "verify on 2 cores (-C: 4 jobs over 4 request queues)")
    for wl in ("unmap", "flush"):
        rc, out = bdevperf(cfg, "-m", "0x2", "-q", "4", "-o", "65536", "-w", wl, "-t", "1")
        ok_run(rc, out, wl)
    cfg1 = write_bdev_config(os.path.join(TMP, "vs1.json"), [attach("VS", sock, vq_count=1)])
    rc, out = bdevperf(cfg1, "-m", "0x2", "-q", "8", "-o", "4096", "-w", "verify", "-t", "1")
    check(rc != 0 and "larger vq_count" in out,
          "two bdevs (two bdevperf threads) over one request queue: the error names vq_count")
    r = call(v, "bdev_null_create", {"name": "Null0", "num_blocks": 65536, "block_size": 512})
    r2 = call(v, "vhost_scsi_controller_add_target",
              {"ctrlr": "vs0", "scsi_target_num": 7, "bdev_name": "Null0"})
    check("result" in r and r2.get("result") == 7, "null disk added at target 7")
    rc, out = bdevperf(cfg, "-m", "0x2", "-q", "32", "-o", "4096", "-w", "randread", "-t", "1")
    ok_run(rc, out, "randread over targets 0, 3 and 7")
    check("VSt7" in out, "target 7 found by a new attach")
    check(call(v, "vhost_scsi_controller_remove_target",
               {"ctrlr": "vs0", "scsi_target_num": 7}).get("error") is None, "target 7 removed")


def test_front_end_rpcs(v, tgt, sock):
    print("-- osprey_tgt as the front end")
    r = rpc_json("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "scsi",
                 "--vq-count", "2", "VS")
    check(r == ["VSt0", "VSt3"], "attach answers the bdev names: %s" % r)
    d = rpc_json("bdev_virtio_scsi_get_devices")
    check(isinstance(d, list) and len(d) == 1 and d[0]["name"] == "VS" and
          d[0]["virtio"]["socket"] == sock and d[0]["virtio"]["vq_count"] == 2 and
          [t["target"] for t in d[0]["targets"]] == [0, 3] and
          [t["bdev_name"] for t in d[0]["targets"]] == ["VSt0", "VSt3"],
          "bdev_virtio_scsi_get_devices: %s" % d)
    b = rpc_json("bdev_get_bdevs", "-b", "VSt3")
    vi = b and b[0].get("driver_specific", {}).get("virtio", {})
    check(b and b[0]["block_size"] == 4096 and b[0]["num_blocks"] == 4096 and
          vi.get("dev_type") == "scsi" and vi.get("target") == 3 and vi.get("controller") == "VS",
          "bdev_get_bdevs VSt3: 4096-byte blocks, virtio target 3")
    cfg = rpc_json("save_config")
    calls = [c for s in cfg["subsystems"] if s["subsystem"] == "bdev" for c in s["config"]
             if c["method"] == "bdev_virtio_attach_controller"]
    check(len(calls) == 1 and calls[0]["params"]["dev_type"] == "scsi" and
          calls[0]["params"]["name"] == "VS" and calls[0]["params"]["traddr"] == sock,
          "save_config: one attach call for the controller (not one per bdev)")
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "scsi", "VS")
    check(r.returncode != 0 and "VS" in r.stdout + r.stderr, "the same name twice is refused")
    r = rpc("bdev_virtio_attach_controller", "-t", "user", "-a", os.path.join(TMP, "nope"), "-d",
            "scsi", "VX")
    check(r.returncode != 0 and "cannot connect" in (r.stdout + r.stderr).lower(),
          "a missing socket: 'cannot connect'")
    r = rpc("bdev_virtio_detach_controller", "VS")
    check(r.returncode == 0, "detach VS")
    check(wait_for(lambda: rpc_json("bdev_get_bdevs") == [], 5), "both bdevs gone")
    check(rpc_json("bdev_virtio_scsi_get_devices") == [], "no virtio-scsi controller left")
    r = rpc("bdev_virtio_detach_controller", "VS")
    check(r.returncode != 0 and "VS" in r.stdout + r.stderr, "detach again: no such controller")


def test_target_removed(v, sock):
    print("-- a target removed on the vhost side under I/O")
    cfg = write_bdev_config(os.path.join(TMP, "vsr.json"), [attach("VR", sock)])
    import subprocess
    log = open(os.path.join(TMP, "bp_removed.log"), "w+")
    from vhost_e2e import BDEVPERF
    p = subprocess.Popen([BDEVPERF, "--json", cfg, "-m", "0x2", "-q", "8", "-o", "4096", "-w",
                          "randread", "-t", "3"], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(1.0)
    r = call(v, "vhost_scsi_controller_remove_target", {"ctrlr": "vs0", "scsi_target_num": 3})
    check(r.get("error") is None, "target 3 removed while the front end reads")
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -999
    log.seek(0)
    out = log.read()
    check(rc != -999 and "AddressSanitizer" not in out, "bdevperf ends by itself (rc %s)" % rc)
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("VRt")]
    t0 = [ln for ln in lines if ln.strip().startswith("VRt0")]
    check(t0 and float(t0[0].split(":")[1].split()[1]) > 0, "target 0 kept serving: %s" %
          (t0 and t0[0].strip()))
    check(alive(v), "vhost still serving")
    r = call(v, "vhost_scsi_controller_add_target",
             {"ctrlr": "vs0", "scsi_target_num": 3, "bdev_name": "Malloc1"})
    check(r.get("result") == 3, "target 3 added back")


def bg_bdevperf(cfg, tag, *args):
    import subprocess
    from vhost_e2e import BDEVPERF
    log = open(os.path.join(TMP, "bp_%s.log" % tag), "w+")
    p = subprocess.Popen([BDEVPERF, "--json", cfg, *args], stdout=log, stderr=subprocess.STDOUT)
    p.log = log
    return p


def bg_wait(p):
    import subprocess
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -999
    p.log.seek(0)
    return rc, p.log.read()


def test_cpumask():
    print("-- cpumask: vhost on two cores, the scsi controller on both")
    v = start_vhost("vhost_scsi_mc", core_mask="0x3")
    for name, nb, bs in (("Malloc0", 65536, 512), ("Malloc1", 4096, 4096), ("Malloc2", 65536, 512)):
        check("result" in call(v, "bdev_malloc_create",
                               {"name": name, "num_blocks": nb, "block_size": bs}), name)
    check(call(v, "vhost_create_scsi_controller", {"ctrlr": "vm0", "cpumask": "0x3"}).get("result")
          is True, "vhost_create_scsi_controller vm0 cpumask 0x3")
    for t, b in ((0, "Malloc0"), (3, "Malloc1"), (5, "Malloc2")):
        check(call(v, "vhost_scsi_controller_add_target",
                   {"ctrlr": "vm0", "scsi_target_num": t, "bdev_name": b}).get("result") == t,
              "target %d on %s" % (t, b))
    sock = os.path.join(SOCKDIR, "vm0")
    cfg = write_bdev_config(os.path.join(TMP, "vm.json"), [attach("VM", sock, vq_count=6)])
    rc, out = bdevperf(cfg, "-m", "0x3", "-C", "-q", "16", "-o", "4096", "-w", "verify", "-t", "2")
    ok_run(rc, out, "verify on 2 cores over 6 request queues (two vhost threads), targets 0, 3, 5")
    g = (call(v, "vhost_get_controllers", {"name": "vm0"}).get("result") or [{}])[0]
    check(g.get("cpumask") == "0x3" and len(g.get("threads", [])) == 2 and g.get("requests", 0) > 1000,
          "vhost_get_controllers: cpumask 0x3, two threads, %s requests" % g.get("requests"))
    rc, out = bdevperf(cfg, "-m", "0x3", "-C", "-q", "8", "-o", "65536", "-w", "verify", "-t", "1")
    ok_run(rc, out, "verify 64 KiB on 2 cores")

    print("-- cpumask: bdev hot remove and target removal under verify")
    cfg0 = write_bdev_config(os.path.join(TMP, "vm0.json"), [attach("VM", sock, vq_count=6)])
    p = bg_bdevperf(cfg0, "mc_remove", "-m", "0x3", "-C", "-q", "8", "-o", "4096", "-w", "verify",
                    "-t", "4")
    time.sleep(1.5)
    r = call(v, "bdev_malloc_delete", {"name": "Malloc1"})
    check(r.get("result") is True, "bdev_malloc_delete Malloc1 (target 3) under I/O: %s" % r)
    time.sleep(0.5)
    r = call(v, "vhost_scsi_controller_remove_target", {"ctrlr": "vm0", "scsi_target_num": 5})
    check(r.get("result") is True, "remove_target 5 under I/O: %s" % r)
    rc, out = bg_wait(p)
    check(rc != -999 and "AddressSanitizer" not in out and "runtime error" not in out,
          "bdevperf ends by itself (rc %s)" % rc)
    t0 = [ln for ln in out.splitlines() if ln.strip().startswith("VMt0")]
    # Job lines: runtime, IOPS, MiB/s, Fail/s, TO/s, latencies.
    check(len(t0) == 2 and all(float(ln.split(":")[1].split()[1]) > 0 and
                               float(ln.split(":")[1].split()[3]) == 0 for ln in t0),
          "target 0 verified on both cores with no failure: %s" % [ln.strip() for ln in t0])
    check(alive(v), "vhost still serving")
    t = (call(v, "vhost_get_controllers", {"name": "vm0"}).get("result") or [{}])[0]
    ids = [x["id"] for x in t.get("backend_specific", {}).get("scsi", [])]
    check(ids == [0], "only target 0 left: %s" % ids)
    r = call(v, "vhost_scsi_controller_add_target",
             {"ctrlr": "vm0", "scsi_target_num": 5, "bdev_name": "Malloc2"})
    check(r.get("result") == 5, "target 5 added back")
    rc, out = bdevperf(cfg, "-m", "0x3", "-C", "-q", "16", "-o", "4096", "-w", "verify", "-t", "1")
    ok_run(rc, out, "verify over targets 0 and 5 again")
    check("VMt5" in out and "VMt3" not in out, "a new attach finds targets 0 and 5")
    check(stop_tgt(v) == 0, "vhost (2 cores) exits 0")


def body():
    v = start_vhost("vhost_scsi_fe")
    for name, nb, bs in (("Malloc0", 65536, 512), ("Malloc1", 4096, 4096)):
        check("result" in call(v, "bdev_malloc_create",
                               {"name": name, "num_blocks": nb, "block_size": bs}), name)
    check(call(v, "vhost_create_scsi_controller", {"ctrlr": "vs0"}).get("result") is True,
          "vhost_create_scsi_controller vs0")
    for t, b in ((0, "Malloc0"), (3, "Malloc1")):
        check(call(v, "vhost_scsi_controller_add_target",
                   {"ctrlr": "vs0", "scsi_target_num": t, "bdev_name": b}).get("result") == t,
              "target %d on %s" % (t, b))
    sock = os.path.join(SOCKDIR, "vs0")
    check_rpc_error(v, "add_target on a taken slot", "vhost_scsi_controller_add_target",
                    {"ctrlr": "vs0", "scsi_target_num": 0, "bdev_name": "Malloc1"}, "0")
    test_bdevperf(v, sock)
    tgt = start_tgt()
    test_front_end_rpcs(v, tgt, sock)
    test_target_removed(v, sock)

    print("-- the vhost app killed under an attached front end")
    r = rpc_json("bdev_virtio_attach_controller", "-t", "user", "-a", sock, "-d", "scsi", "VK")
    check(r == ["VKt0", "VKt3"], "attached VK")
    os.kill(v.pid, signal.SIGKILL)
    v.wait()
    check(wait_for(lambda: rpc_json("bdev_get_bdevs") == [], 5), "VKt0 and VKt3 unregistered")
    check(rpc_json("bdev_virtio_scsi_get_devices") == [], "the controller is gone")
    check(tgt.poll() is None and rpc("spdk_get_version").returncode == 0, "osprey_tgt still serving")
    check(stop_tgt(tgt) == 0, "osprey_tgt exits 0")
    test_cpumask()


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

#!/usr/bin/env python3
"""The reactor rule for the vhost target (doc/vhost.md, "Interrupt mode"):

- an idle vhost app (-m 0x1) costs < 5 % of a core with no front end, and
  also with a front end connected that does nothing (bdevperf -z attached
  over bdev_virtio): the controller armed kicks and its reactor sleeps;
- I/O after such a sleep is served (the kick wakes the reactor): verify at
  queue depth 1 and 16, no failures; idle again afterwards (< 5 %);
- with OSPREY_VHOST_IDLE_US=0 (arm at every empty poll, the harshest case
  for lost wake-ups) verify at queue depth 1 runs with no failures at more
  than 1500 IOPS (a lost kick rescued only by a timer gives ~1000 or less);
- vhost_controller_set_coalescing: bad values refused, set values shown by
  vhost_get_controllers and written by save_config, verify with coalescing
  on (a low threshold, so calls are really delayed) has no failures;
- cpumask: vhost -m 0x3, a controller with cpumask 0x3 polls its 2 queues on
  2 threads pinned to cores 0 and 1 (framework_get_reactors,
  thread_get_pollers), verify over 2 queues passes, both reactors sleep when
  idle (< 5 %), save_config keeps the mask, deleting the controller ends its
  threads.
Prints "N passed, N failed".
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import BIN_DIR, TMP, check, raw_call, run, stop_tgt, wait_for  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhost_e2e  # noqa: E402

VHOST = os.path.join(BIN_DIR, "vhost")
BDEVPERF = os.path.join(BIN_DIR, "bdevperf")
SOCKDIR = vhost_e2e.SOCKDIR
IDLE_LIMIT = 5.0   # % of one core
HZ = os.sysconf("SC_CLK_TCK")


def start_vhost(tag, env_extra=None, mask="0x1"):
    return vhost_e2e.start_vhost("vhost_%s" % tag, env_extra=env_extra,
                                 sock=os.path.join(TMP, "vhost_%s.sock" % tag), core_mask=mask)

def start_bdevperf(tag, ctrlr_sock, vq=1, mask="0x2", extra=()):
    cfg = vhost_e2e.write_bdev_config(os.path.join(TMP, "bp_%s.json" % tag), [
        ("bdev_virtio_attach_controller",
         {"name": "VirtioBlk0", "trtype": "user", "traddr": ctrlr_sock, "dev_type": "blk",
          "vq_count": vq})])
    sock = os.path.join(TMP, "bp_%s.sock" % tag)
    return vhost_e2e.start_app([BDEVPERF, "-m", mask, "-r", sock, "--json", cfg, "-z", *extra],
                               sock, "bp_%s" % tag, what="bdevperf")


def cpu_ticks(p):
    with open("/proc/%d/stat" % p.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def cpu_percent(p, seconds):
    t0, c0 = time.time(), cpu_ticks(p)
    time.sleep(seconds)
    return 100.0 * (cpu_ticks(p) - c0) / HZ / (time.time() - t0)


def ctrlr_info(v, name="vb0"):
    r = raw_call("vhost_get_controllers", {"name": name}, sock=v.sock).get("result") or [{}]
    return r[0]


def perform(bp, workload, qd, seconds):
    """perform_tests on bdevperf -z: (iops, failed/s) or None."""
    r = raw_call("perform_tests", {"workload_type": workload, "queue_depth": qd,
                                   "io_size": 4096, "time_in_sec": seconds},
                 sock=bp.sock, timeout=seconds + 30)
    res = r.get("result")
    if not isinstance(res, dict):
        print("    perform_tests: %s" % json.dumps(r)[:600])
        return None
    jobs = res.get("results") or []
    iops = sum(j.get("iops", 0) for j in jobs)
    fails = sum(j.get("io_failed", 0) for j in jobs)
    return iops, fails


def idle_check(v, what, seconds=5):
    pct = cpu_percent(v, seconds)
    check(pct < IDLE_LIMIT, "%s: vhost uses %.1f %% of a core over %d s (< %.0f %%)" %
          (what, pct, seconds, IDLE_LIMIT))
    return pct


def body():
    print("-- idle with a connected front end")
    v = start_vhost("a")
    check("result" in raw_call("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384,
                                                      "block_size": 512}, sock=v.sock), "malloc bdev")
    r = raw_call("vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "Malloc0"}, sock=v.sock)
    check(r.get("result") is True, "vb0 created")
    time.sleep(0.5)
    idle_check(v, "no front end", 3)
    bp = start_bdevperf("a", os.path.join(SOCKDIR, "vb0"))
    check(wait_for(lambda: ctrlr_info(v).get("connected"), 10), "bdevperf -z connected to vb0")
    time.sleep(1)
    idle_check(v, "front end connected, doing nothing")
    info = ctrlr_info(v)
    check(info.get("sleeps", 0) >= 1, "the controller armed kicks (sleeps %s)" % info.get("sleeps"))

    print("-- I/O after a sleep: the kick wakes the reactor")
    for qd in (1, 16):
        res = perform(bp, "verify", qd, 2)
        check(res is not None and res[0] > 0 and res[1] == 0,
              "verify qd %d after idle: %s IOPS, no failures" % (qd, res and int(res[0])))
        time.sleep(1)
    info = ctrlr_info(v)
    check(info.get("wakeups", 0) >= 2 and info.get("errors") == 0,
          "woken by kicks (wakeups %s), no errors" % info.get("wakeups"))
    idle_check(v, "idle again after I/O")

    print("-- coalescing")
    for params, needle in (({"ctrlr": "nosuch", "delay_base_us": 10, "iops_threshold": 10}, "nosuch"),
                           ({"ctrlr": "vb0", "delay_base_us": 10, "iops_threshold": 0}, "iops_threshold"),
                           ({"ctrlr": "vb0", "delay_base_us": 2000000, "iops_threshold": 10},
                            "delay_base_us"),
                           ({"ctrlr": "vb0", "delay_base_us": -1, "iops_threshold": 10},
                            "delay_base_us")):
        r = raw_call("vhost_controller_set_coalescing", params, sock=v.sock)
        check("error" in r and needle in json.dumps(r["error"]),
              "set_coalescing %s refused, naming %s" % (params, needle))
    r = raw_call("vhost_controller_set_coalescing",
                 {"ctrlr": "vb0", "delay_base_us": 40, "iops_threshold": 1000}, sock=v.sock)
    check(r.get("result") is True, "set_coalescing vb0 40 us above 1000 IOPS")
    info = ctrlr_info(v)
    check(info.get("delay_base_us") == 40 and info.get("iops_threshold") == 1000,
          "vhost_get_controllers shows delay_base_us 40, iops_threshold 1000")
    cfg = raw_call("save_config", sock=v.sock).get("result") or {}
    calls = [c for s in cfg.get("subsystems", []) for c in (s.get("config") or [])]
    names = [c.get("method") for c in calls]
    co = [c for c in calls if c.get("method") == "vhost_controller_set_coalescing"]
    check(len(co) == 1 and co[0]["params"] == {"ctrlr": "vb0", "delay_base_us": 40,
                                               "iops_threshold": 1000} and
          names.index("vhost_create_blk_controller") < names.index("vhost_controller_set_coalescing"),
          "save_config: vhost_controller_set_coalescing after vhost_create_blk_controller")
    res = perform(bp, "verify", 32, 2)
    check(res is not None and res[0] > 0 and res[1] == 0,
          "verify qd 32 with coalescing: %s IOPS, no failures" % (res and int(res[0])))
    r = raw_call("vhost_controller_set_coalescing",
                 {"ctrlr": "vb0", "delay_base_us": 0, "iops_threshold": 0}, sock=v.sock)
    check(r.get("result") is True and ctrlr_info(v).get("delay_base_us") == 0, "coalescing off (0 0)")
    time.sleep(1)
    idle_check(v, "idle after coalesced I/O", 3)
    check(stop_tgt(bp) == 0, "bdevperf exits 0")
    check(stop_tgt(v) == 0, "vhost exits 0")

    print("-- arm at every empty poll (OSPREY_VHOST_IDLE_US=0)")
    v = start_vhost("b", {"OSPREY_VHOST_IDLE_US": "0"})
    raw_call("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384, "block_size": 512},
             sock=v.sock)
    r = raw_call("vhost_create_blk_controller", {"ctrlr": "vb1", "dev_name": "Malloc0"}, sock=v.sock)
    check(r.get("result") is True, "vb1 created")
    bp = start_bdevperf("b", os.path.join(SOCKDIR, "vb1"))
    for qd in (1, 4):
        res = perform(bp, "verify", qd, 2)
        check(res is not None and res[1] == 0 and res[0] > 1500,
              "verify qd %d, sleeping at every gap: %s IOPS (> 1500), no failures" %
              (qd, res and int(res[0])))
    info = ctrlr_info(v, "vb1")
    check(info.get("sleeps", 0) > 100 and info.get("errors") == 0,
          "slept %s times, woke %s times" % (info.get("sleeps"), info.get("wakeups")))
    check(stop_tgt(bp) == 0, "bdevperf exits 0")
    check(stop_tgt(v) == 0, "vhost exits 0")

    print("-- cpumask: the queues of one controller on threads of two cores")
    v = start_vhost("c", mask="0x3")
    raw_call("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384, "block_size": 512},
             sock=v.sock)
    r = raw_call("vhost_create_blk_controller", {"ctrlr": "vbc", "dev_name": "Malloc0",
                                                 "cpumask": "0x3"}, sock=v.sock)
    check(r.get("result") is True, "vbc created with cpumask 0x3: %s" % r)
    info = ctrlr_info(v, "vbc")
    names = [t["name"] for t in info.get("threads", [])]
    check(info.get("cpumask") == "0x3" and len(names) == 2, "vbc: cpumask 0x3, 2 threads %s" % names)
    reactors = (raw_call("framework_get_reactors", sock=v.sock).get("result") or {}).get("reactors", [])
    where = {t["name"]: r["lcore"] for r in reactors for t in r.get("lw_threads", [])}
    check(sorted(where.get(n, -1) for n in names) == [0, 1],
          "its threads run on cores 0 and 1: %s" % {n: where.get(n) for n in names})
    bp = start_bdevperf("c", os.path.join(SOCKDIR, "vbc"), vq=2, mask="0x3", extra=["-C"])
    check(wait_for(lambda: ctrlr_info(v, "vbc").get("queues") == 2, 10), "2 queues connected")
    res = perform(bp, "verify", 16, 2)
    check(res is not None and res[0] > 0 and res[1] == 0,
          "verify over 2 queues on 2 threads: %s IOPS, no failures" % (res and int(res[0])))
    info = ctrlr_info(v, "vbc")
    qmap = sorted(tuple(t.get("queues", [])) for t in info.get("threads", []))
    check(qmap == [(0,), (1,)], "one queue per thread: %s" % qmap)
    pol = (raw_call("thread_get_pollers", sock=v.sock).get("result") or {}).get("threads", [])
    busy = {t["name"]: sum(p.get("busy_count", 0) for p in t.get("active_pollers", [])
                           if p.get("name") == "vhost_poll") for t in pol}
    check(all(busy.get(n, 0) > 0 for n in names), "both threads' vhost_poll did work: %s" % busy)
    time.sleep(1)
    idle_check(v, "cpumask 0x3, front end connected and idle (2 reactors)")
    cfg = raw_call("save_config", sock=v.sock).get("result") or {}
    cr = [c for s in cfg.get("subsystems", []) for c in (s.get("config") or [])
          if c.get("method") == "vhost_create_blk_controller"]
    check(len(cr) == 1 and cr[0]["params"].get("cpumask") == "0x3", "save_config keeps cpumask 0x3")
    check(stop_tgt(bp) == 0, "bdevperf exits 0")
    r = raw_call("vhost_delete_controller", {"ctrlr": "vbc"}, sock=v.sock)
    check(r.get("result") is True, "vbc deleted")

    def threads_gone():
        ts = (raw_call("thread_get_stats", sock=v.sock).get("result") or {}).get("threads", [])
        return not any(t["name"] in names for t in ts)
    check(wait_for(threads_gone, 5), "its threads are gone")
    check(stop_tgt(v) == 0, "vhost exits 0")


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

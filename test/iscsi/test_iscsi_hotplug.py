#!/usr/bin/env python3
"""LUN resize and hot remove seen by an iSCSI initiator, with I/O in flight.

osprey_tgt serves one target node with two LUNs: LUN 0 on a delay bdev
(reads and writes take ~300 ms) over a malloc bdev, LUN 1 on a null bdev. A
byte-level initiator (test/iscsi/proto/iscsi_wire.py) logs in and then:
  - the null bdev grows (bdev_null_resize): the next command to LUN 1 gets
    UNIT ATTENTION / CAPACITY DATA HAS CHANGED (06/2A/09, SBC-3 4.6), then
    READ CAPACITY(16) reports the new size; LUN 0 gets no such attention;
  - with READs and WRITEs in flight on LUN 0, its bdev is deleted: every
    command is answered (GOOD if it finished first, CHECK CONDITION
    otherwise), none hangs; afterwards LUN 0 answers LOGICAL UNIT NOT
    SUPPORTED (05/25/00), REPORT LUNS lists LUN 1 only, LUN 1 still reads;
  - the daemon keeps serving a new session and exits cleanly.
Prints ok/FAIL per check and "N passed, N failed" last.
"""

import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, os.path.join(HERE, "proto"))
from osp_e2e import check, free_port, rpc_ok, rpc_json, start_tgt, stop_tgt, run, alive  # noqa: E402
from iscsi_wire import (Conn, cdb_tur, cdb_read10, cdb_write10, cdb_read_capacity16,  # noqa: E402
                        cdb_report_luns, parse_sense, pattern, ST_GOOD, ST_CHECK_CONDITION)

TARGET = "iqn.2016-06.io.spdk:hotplug"
INITIATOR = "iqn.2024-01.org.example:hotplug"
BS = 512


def sense(t):
    return parse_sense(t.sense) if getattr(t, "sense", None) else None


def login(port):
    c = Conn("127.0.0.1", port, timeout=10.0)
    r = c.login(INITIATOR, TARGET)
    if not r.ok:
        raise RuntimeError("login failed: %r" % r)
    return c


def clear_ua(c, lun):
    for _ in range(5):
        if c.cmd(cdb_tur(), lun).status == ST_GOOD:
            return True
    return False


def body():
    port = free_port("ISCSI_HOTPLUG_PORT")
    p = start_tgt()
    for args in (("bdev_malloc_create", "-b", "Malloc0", "16", "512"),
                 ("bdev_delay_create", "-b", "Malloc0", "-d", "Delay0", "-r", "300000",
                  "-t", "300000", "-w", "300000", "-n", "300000"),
                 ("bdev_null_create", "Null0", "64", "512"),
                 ("iscsi_create_portal_group", "1", "127.0.0.1:%d" % port),
                 ("iscsi_create_initiator_group", "1", "ANY", "127.0.0.1/32"),
                 ("iscsi_create_target_node", TARGET, "hotplug", "Delay0:0 Null0:1", "1:1", "64",
                  "-d")):
        if not rpc_ok(*args):
            raise RuntimeError("setup failed at %s" % " ".join(args))
    c = login(port)
    check(clear_ua(c, 0) and clear_ua(c, 1), "login; power-on unit attentions cleared on LUN 0 and 1")

    # ---- resize
    check(rpc_ok("bdev_null_resize", "Null0", "128"), "bdev_null_resize Null0 64 -> 128 MiB")
    t = c.cmd(cdb_tur(), 1)
    check(t.status == ST_CHECK_CONDITION and sense(t) == (6, 0x2A, 0x09),
          "LUN 1: next command gets UNIT ATTENTION / CAPACITY DATA HAS CHANGED (%s %s)"
          % (t.status, sense(t)))
    t = c.cmd(cdb_read_capacity16(), 1, read_len=32)
    last = struct.unpack(">Q", bytes(t.data[:8]))[0] if t.status == ST_GOOD else None
    check(last == 128 * 2048 - 1, "LUN 1: READ CAPACITY(16) shows 128 MiB (last LBA %s)" % last)
    t = c.cmd(cdb_tur(), 0)
    check(t.status == ST_GOOD, "LUN 0: no attention from LUN 1's resize (%s %s)"
          % (t.status, sense(t)))

    # ---- hot remove with I/O in flight
    wr = pattern(7, 8 * BS)
    tasks = []
    for i in range(8):
        tasks.append(c.submit(cdb_read10(i * 16, 8), 0, read_len=8 * BS))
        tasks.append(c.submit(cdb_write10(1024 + i * 16, 8), 0, write_data=wr))
    time.sleep(0.05)
    t0 = time.time()
    check(rpc_ok("bdev_delay_delete", "Delay0"), "bdev_delay_delete Delay0 with 16 commands in flight")
    try:
        c.run(tasks, timeout=15)
        done = True
    except Exception as e:   # timeout or a closed connection
        done = False
        print("    %r" % e)
    took = time.time() - t0
    check(done, "every command in flight answered after the hot remove (%.2f s)" % took)
    statuses = sorted(set((t.status, sense(t)) for t in tasks))
    check(done and all(t.status in (ST_GOOD, ST_CHECK_CONDITION) for t in tasks) and
          all(not t.errors for t in tasks),
          "each one GOOD or CHECK CONDITION, no protocol errors (%s)" % statuses)
    t = c.cmd(cdb_read10(0, 1), 0, read_len=BS)
    check(t.status == ST_CHECK_CONDITION and sense(t) is not None and sense(t)[0] in (5, 6),
          "LUN 0 after the removal: CHECK CONDITION (%s %s)" % (t.status, sense(t)))
    if sense(t) is not None and sense(t)[0] == 6:
        t = c.cmd(cdb_read10(0, 1), 0, read_len=BS)
    check(t.status == ST_CHECK_CONDITION and sense(t) == (5, 0x25, 0x00),
          "LUN 0: LOGICAL UNIT NOT SUPPORTED (%s %s)" % (t.status, sense(t)))
    luns = None
    for _ in range(3):   # a REPORTED LUNS DATA HAS CHANGED attention may come first
        t = c.cmd(cdb_report_luns(), 1, read_len=4096)
        if t.status == ST_GOOD:
            n = struct.unpack(">I", bytes(t.data[:4]))[0] // 8
            luns = [struct.unpack(">H", bytes(t.data[8 + 8 * i:10 + 8 * i]))[0] & 0x3FFF
                    for i in range(n)]
            break
    check(luns == [1], "REPORT LUNS lists LUN 1 only (%s)" % luns)
    clear_ua(c, 1)
    t = c.cmd(cdb_read10(100, 8), 1, read_len=8 * BS)
    check(t.status == ST_GOOD and t.read_bytes == 8 * BS, "LUN 1 still reads (%s)" % t.status)
    c.close()

    # ---- still serving
    c = login(port)
    check(clear_ua(c, 1), "a new session is served")
    c.close()
    nodes = rpc_json("iscsi_get_target_nodes") or []
    check(nodes and [lun["lun_id"] for lun in nodes[0].get("luns", [])] == [1],
          "iscsi_get_target_nodes shows LUN 1 only")
    check(alive(p), "daemon alive")
    check(stop_tgt(p) == 0, "SIGTERM: exit 0")


if __name__ == "__main__":
    sys.exit(run(body))

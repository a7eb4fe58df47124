#!/usr/bin/env python3
"""End-to-end test of the vhost target's vhost-user-scsi controllers with a
small vhost-user-scsi front end written here (vhost_user_client.py: memfd
guest memory, split rings driven by polling), no guest:

- RPCs: vhost_create_scsi_controller, vhost_scsi_controller_add_target
  (explicit and -1 = first free slot, returns the number),
  vhost_scsi_controller_remove_target, vhost_get_controllers
  (backend_specific.scsi), bad parameters answered with clear errors;
- GET_CONFIG: the virtio-scsi config space;
- commands: TEST UNIT READY (the power-on unit attention, sense), INQUIRY,
  READ CAPACITY, WRITE / READ with data split over several descriptors and
  compared, residuals, a LUN that does not exist;
- bad requests: LUN formats, absent targets, short header, short response,
  data both ways, direction mismatch, a descriptor outside guest memory;
- controlq: LUN RESET, ABORT TASK of a command in flight (delay bdev),
  unknown TMF, TMF to an absent target, AN query;
- eventq: rescan / removed events on target add and remove, events missed
  when no buffer is posted, parameter change on a bdev resize, target
  removal on bdev hot remove, removal with a command in flight;
- the client vanishing with a command in flight, reconnecting;
- save_config -> a new vhost app with --json rebuilds the controller;
- SIGTERM with a connected client;
- cpumask: a vhost app on two cores (-m 0x3) with a controller on both
  (cpumask 0x3) and 4 request queues, served by two threads: writes and reads
  with data checks on every queue (read back through another queue, so on
  the other thread), ABORT TASK from the controlq of requests on the other
  thread's queues, LUN RESET under I/O on every queue (each thread's nexus
  reports the unit attention), target remove and add while I/O runs on every
  queue (the RPC from another Python thread), bdev hot remove under I/O,
  cpumask errors, vhost_get_controllers and save_config with the cpumask, a
  new app rebuilt from that config.
Prints "N passed, N failed".
"""

import json
import os
import re
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)
from osp_e2e import BIN_DIR, TMP, check, procs, raw_call, run, stop_tgt, tgt_log, wait_for  # noqa: E402
from vhost_user_client import Client  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhost_e2e  # noqa: E402
from vhost_e2e import alive  # noqa: E402
from vhost_e2e import check_rpc_error as verr  # noqa: E402

VHOST = os.path.join(BIN_DIR, "vhost")
VSOCK = os.path.join(TMP, "vhost_rpc.sock")
SOCKDIR = vhost_e2e.SOCKDIR

F_HOTPLUG = 1 << 1
F_CHANGE = 1 << 2
S_OK, S_ABORTED, S_BAD_TARGET, S_FAILURE = 0, 2, 3, 9
S_FUNCTION_REJECTED, S_INCORRECT_LUN = 11, 12
GOOD, CHECK_CONDITION = 0x00, 0x02
T_TRANSPORT_RESET, T_PARAM_CHANGE, EVENTS_MISSED = 1, 3, 0x80000000
RESCAN, REMOVED = 1, 2


def start_vhost(*extra):
    return vhost_e2e.start_vhost("vhost_%d" % len(procs), extra=extra, sock=VSOCK)

def vcall(method, params=None):
    return raw_call(method, params, sock=VSOCK)


def lun_field(target, lun=0):
    return bytes([1, target, 0x40 | (lun >> 8), lun & 0xff, 0, 0, 0, 0])


class Scsi:
    """virtio-scsi requests over a Client: queue 0 control, 1 event, 2.. requests."""

    def __init__(self, path, nreq=1, features=F_HOTPLUG | F_CHANGE, nevents=4):
        self.c = Client(path)
        self.c.start(features, 2 + nreq)
        self.mem = self.c.mem
        self.tag = 1
        self.events = []
        self.posted = 0
        # eventq buffers in an area of their own, used round robin: the back end
        # holds them while the allocator of the other buffers wraps around.
        self.ev_area = self.mem.reserve(16 * 256)
        self.ev_next = 0
        for _ in range(nevents):
            self.post_event()

    def post_event(self):
        a = self.ev_area + 16 * (self.ev_next % 256)
        self.ev_next += 1
        self.mem.write(a, b"\xee" * 16)
        self.c.queues[1].add([(a, 16, True)], a)
        self.posted += 1

    def top_up(self, n):
        while self.posted < n:
            self.post_event()

    def poll_events(self, count=1, timeout=3.0):
        for head, ln, a in self.c.queues[1].wait(count, timeout):
            ev, reason = struct.unpack_from("<I", self.mem.read(a, 4))[0], \
                struct.unpack_from("<I", self.mem.read(a + 12, 4))[0]
            self.events.append((ln, ev, self.mem.read(a + 4, 8), reason))
            self.posted -= 1
        out, self.events = self.events, []
        return out

    def submit(self, target, cdb, lun=0, out=b"", in_len=0, out_split=1, in_split=1,
               hdr_len=51, resp_len=108, lun_bytes=None, q=2, extra=None):
        hdr = (lun_bytes if lun_bytes is not None else lun_field(target, lun)) + \
            struct.pack("<QBBB", self.tag, 0, 0, 0) + cdb.ljust(32, b"\0")
        tag = self.tag
        self.tag += 1
        ha = self.mem.alloc(max(hdr_len, 1))
        self.mem.write(ha, hdr[:hdr_len].ljust(hdr_len, b"\0"))
        bufs = [(ha, hdr_len, False)]
        if out:
            oa = self.mem.alloc(len(out))
            self.mem.write(oa, out)
            step = -(-len(out) // out_split)
            bufs += [(oa + i, min(step, len(out) - i), False) for i in range(0, len(out), step)]
        ra = self.mem.alloc(max(resp_len, 1))
        self.mem.write(ra, b"\xee" * resp_len)
        bufs.append((ra, resp_len, True))
        ia = 0
        if in_len:
            ia = self.mem.alloc(in_len)
            self.mem.write(ia, b"\xee" * in_len)
            step = -(-in_len // in_split)
            bufs += [(ia + i, min(step, in_len - i), True) for i in range(0, in_len, step)]
        if extra:
            bufs += extra
        self.c.queues[q].add(bufs, (ra, ia, in_len, resp_len))
        return tag

    def reap(self, q=2, count=1, timeout=5.0):
        res = []
        for head, used, (ra, ia, in_len, resp_len) in self.c.queues[q].wait(count, timeout):
            r = {"used": used}
            if resp_len >= 12:
                sl, resid, sq, st, resp = struct.unpack_from("<IIHBB", self.mem.read(ra, 12))
                r.update(sense_len=sl, resid=resid, status=st, response=resp,
                         sense=self.mem.read(ra + 12, min(sl, 96)),
                         data=self.mem.read(ia, in_len) if in_len else b"")
            res.append(r)
        return res

    def cmd(self, target, cdb, **kw):
        self.submit(target, cdb, **kw)
        r = self.reap(q=kw.get("q", 2))
        return r[0] if r else {"used": None, "response": None, "status": None}

    def ctrl(self, payload, resp_len):
        a = self.mem.alloc(len(payload))
        self.mem.write(a, payload)
        ra = self.mem.alloc(resp_len)
        self.mem.write(ra, b"\xee" * resp_len)
        self.c.queues[0].add([(a, len(payload), False), (ra, resp_len, True)], ra)
        got = self.c.queues[0].wait(1)
        if not got:
            return None, b""
        return got[0][1], self.mem.read(ra, resp_len)

    def tmf(self, target, subtype, tag=0, lun_bytes=None):
        lb = lun_bytes if lun_bytes is not None else lun_field(target)
        used, r = self.ctrl(struct.pack("<II", 0, subtype) + lb + struct.pack("<Q", tag), 1)
        return r[0] if used == 1 else None

    def tmfs(self, reqs):
        """Several TMFs (target, subtype, tag) in flight at once; their responses in order."""
        ras = []
        for target, subtype, tag in reqs:
            payload = struct.pack("<II", 0, subtype) + lun_field(target) + struct.pack("<Q", tag)
            a = self.mem.alloc(len(payload))
            self.mem.write(a, payload)
            ra = self.mem.alloc(1)
            self.mem.write(ra, b"\xee")
            self.c.queues[0].add([(a, len(payload), False), (ra, 1, True)], ra)
            ras.append(ra)
        got = {cookie: used for head, used, cookie in self.c.queues[0].wait(len(reqs))}
        return [self.mem.read(ra, 1)[0] if got.get(ra) == 1 else None for ra in ras]

    def close(self):
        self.c.close()


def sense_key(r):
    s = r.get("sense", b"")
    return (s[2] & 0xf, s[12], s[13]) if len(s) >= 14 else None


def read10(lba, n):
    return struct.pack(">BBIBHB", 0x28, 0, lba, 0, n, 0)


def write10(lba, n):
    return struct.pack(">BBIBHB", 0x2a, 0, lba, 0, n, 0)


TUR = bytes(6)
INQUIRY = bytes([0x12, 0, 0, 0, 96, 0])
READ_CAP10 = bytes(10).replace(b"\0", b"\x25", 1)


def clear_ua(s, t):
    for _ in range(8):
        r = s.cmd(t, TUR)
        if r.get("status") == GOOD:
            return True
    return False


def test_commands(v, s):
    print("-- commands")
    r = s.cmd(0, TUR)
    check(r["response"] == S_OK and r["status"] == CHECK_CONDITION and r["sense_len"] >= 14 and
          sense_key(r)[0] == 6, "first TEST UNIT READY: unit attention in the sense (%s)" %
          (sense_key(r),))
    check(clear_ua(s, 0), "TEST UNIT READY GOOD once the attentions are reported")
    r = s.cmd(0, INQUIRY, in_len=96)
    check(r["response"] == S_OK and r["status"] == GOOD and r["data"][0] == 0 and
          r["resid"] == 96 - (r["used"] - 108) and r["used"] > 108 + 36,
          "INQUIRY: a disk, used %s, residual %s" % (r["used"], r["resid"]))
    r = s.cmd(0, READ_CAP10, in_len=8)
    last, bs = struct.unpack(">II", r["data"][:8])
    check(r["status"] == GOOD and last == 16383 and bs == 512, "READ CAPACITY(10): %d blocks of %d" %
          (last + 1, bs))
    pat = bytes((i * 7 + 3) & 0xff for i in range(8 * 512))
    r = s.cmd(0, write10(100, 8), out=pat, out_split=3)
    check(r["response"] == S_OK and r["status"] == GOOD and r["resid"] == 0 and r["used"] == 108,
          "WRITE(10) 8 blocks in 3 data-out descriptors")
    r = s.cmd(0, read10(100, 8), in_len=len(pat), in_split=5)
    check(r["status"] == GOOD and r["data"] == pat and r["used"] == 108 + len(pat),
          "READ(10) in 5 data-in descriptors reads the pattern back")
    r = s.cmd(0, read10(100, 4), in_len=len(pat))
    check(r["status"] == GOOD and r["resid"] == 4 * 512 and r["data"][:2048] == pat[:2048],
          "READ(10) of 4 blocks into an 8-block buffer: residual 2048 (%s)" % r["resid"])
    r = s.cmd(0, read10(16383, 2), in_len=1024)
    check(r["status"] == CHECK_CONDITION and sense_key(r) == (5, 0x21, 0),
          "READ past the end: LBA OUT OF RANGE")
    r = s.cmd(0, INQUIRY, lun=5, in_len=96)
    check(r["response"] == S_OK and r["status"] == GOOD and r["data"][0] == 0x7f,
          "INQUIRY of LUN 5 (none): peripheral qualifier 011b")
    r = s.cmd(0, read10(0, 1), lun=5, in_len=512)
    check(r["status"] == CHECK_CONDITION and sense_key(r)[:2] == (5, 0x25),
          "READ of LUN 5: LOGICAL UNIT NOT SUPPORTED")
    r = s.cmd(1, READ_CAP10, in_len=8)
    if r.get("status") == CHECK_CONDITION:
        clear_ua(s, 1)
        r = s.cmd(1, READ_CAP10, in_len=8)
    check(r["status"] == GOOD and struct.unpack(">I", r["data"][4:8])[0] == 4096,
          "target 1 (Malloc1, 4 KiB blocks) answers on the same queue")


def test_bad_requests(v, s):
    print("-- bad requests")
    r = s.cmd(0, TUR, lun_bytes=bytes([0, 0, 0x40, 0, 0, 0, 0, 0]))
    check(r["response"] == S_BAD_TARGET and r["used"] == 12, "LUN field not starting with 1: BAD_TARGET")
    r = s.cmd(2, TUR)
    check(r["response"] == S_BAD_TARGET, "absent target 2: BAD_TARGET")
    r = s.cmd(200, TUR)
    check(r["response"] == S_BAD_TARGET, "target 200 (beyond max_target): BAD_TARGET")
    r = s.cmd(0, TUR, lun_bytes=bytes([1, 0, 0x40, 0, 0, 0, 1, 0]))
    check(r["response"] == S_INCORRECT_LUN, "LUN field with a second level: INCORRECT_LUN")
    r = s.cmd(0, TUR, lun_bytes=bytes([1, 0, 0x80, 0, 0, 0, 0, 0]))
    check(r["response"] == S_INCORRECT_LUN, "LUN with address method 10b: INCORRECT_LUN")
    r = s.cmd(0, TUR, hdr_len=30)
    check(r["response"] == S_FAILURE and r["used"] == 12, "header shorter than the 51-byte request: FAILURE")
    r = s.cmd(0, INQUIRY, resp_len=40)
    check(r["response"] == S_FAILURE and r["used"] == 12, "response area shorter than 108 bytes: FAILURE")
    r = s.cmd(0, TUR, resp_len=8)
    check(r["used"] == 0, "response area shorter than 12 bytes: chain back, nothing written")
    r = s.cmd(0, write10(0, 1), out=bytes(512), in_len=512)
    check(r["response"] == S_FAILURE, "data-out and data-in in one request (no F_INOUT): FAILURE")
    r = s.cmd(0, write10(0, 1), in_len=512)
    check(r["response"] == S_OK and r["status"] == CHECK_CONDITION and sense_key(r) == (5, 0x0e, 0x03),
          "WRITE with a data-in buffer: INVALID FIELD IN COMMAND INFORMATION UNIT")
    r = s.cmd(0, read10(0, 1), in_len=512, extra=[(1 << 40, 512, True)])
    check(r["used"] == 0, "descriptor outside guest memory: chain back unused")
    r = s.cmd(0, bytes([0xff]) + bytes(15))
    check(r["response"] == S_OK and r["status"] == CHECK_CONDITION and sense_key(r)[:2] == (5, 0x20),
          "unknown opcode: INVALID COMMAND OPERATION CODE")
    check(alive(v), "vhost serving after the bad requests")
    r = s.cmd(0, TUR)
    check(r["status"] == GOOD, "and the queue goes on")


def test_controlq(v, s):
    print("-- controlq")
    check(s.tmf(0, 5) == S_OK, "LOGICAL UNIT RESET: FUNCTION COMPLETE")
    r = s.cmd(0, TUR)
    check(r["status"] == CHECK_CONDITION and sense_key(r)[0] == 6 and sense_key(r)[1] == 0x29,
          "then a BUS DEVICE RESET unit attention")
    clear_ua(s, 0)
    check(s.tmf(0, 0, tag=123456) == S_OK, "ABORT TASK of an unknown tag: FUNCTION COMPLETE")
    check(s.tmf(0, 99) == S_FUNCTION_REJECTED, "unknown TMF subtype: FUNCTION_REJECTED")
    check(s.tmf(6, 5) == S_BAD_TARGET, "TMF to an absent target: BAD_TARGET")
    check(s.tmf(0, 2) == S_FUNCTION_REJECTED, "CLEAR ACA (no NACA): FUNCTION_REJECTED")
    used, r = s.ctrl(struct.pack("<I", 1) + lun_field(0) + struct.pack("<I", 0xffff), 5)
    check(used == 5 and r[:4] == bytes(4) and r[4] == S_OK, "AN query: event_actual 0, OK")
    used, r = s.ctrl(struct.pack("<I", 2) + lun_field(0) + struct.pack("<I", 0x10), 5)
    check(used == 5 and r[:4] == bytes(4) and r[4] == S_OK, "AN subscribe: event_actual 0, OK")
    used, r = s.ctrl(struct.pack("<II", 0, 5), 1)
    check(used == 0, "truncated TMF request: back unused")
    used, r = s.ctrl(struct.pack("<I", 77) + bytes(20), 1)
    check(used == 0, "unknown controlq request type: back unused")
    clear_ua(s, 0)


def test_delay(v, s):
    print("-- commands in flight (delay bdev, 300 ms)")
    s.top_up(1)
    r = s.cmd(3, TUR)
    clear_ua(s, 3)
    tag = s.submit(3, read10(0, 8), in_len=4096)
    time.sleep(0.05)
    check(s.tmf(3, 0, tag=tag) == S_OK, "ABORT TASK of a command in flight: FUNCTION COMPLETE")
    r = s.reap(timeout=3)
    check(len(r) == 1 and r[0]["response"] == S_ABORTED,
          "the aborted command comes back ABORTED (%s)" % (r and r[0].get("response")))
    s.submit(3, read10(0, 8), in_len=4096)
    time.sleep(0.05)
    resp = vcall("vhost_scsi_controller_remove_target", {"ctrlr": "vs0", "scsi_target_num": 3})
    check(resp.get("result") is True, "remove_target with a command in flight: %s" % resp)
    r = s.reap(timeout=3)
    check(len(r) == 1 and r[0]["response"] == S_OK and r[0]["status"] == GOOD,
          "the command in flight completed GOOD before the target went")
    ev = s.poll_events(1)
    check(any(e[1] == T_TRANSPORT_RESET and e[2][1] == 3 and e[3] == REMOVED for e in ev),
          "event: target 3 removed")
    r = s.cmd(3, TUR)
    check(r["response"] == S_BAD_TARGET, "target 3 gone: BAD_TARGET")


def test_events(v, s):
    print("-- eventq")
    s.top_up(2)
    r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": -1,
                                                   "bdev_name": "Malloc2"})
    num = r.get("result")
    check(num == 2, "add_target -1 takes the first free slot: %s" % r)
    ev = s.poll_events(1)
    check(len(ev) == 1 and ev[0][0] == 16 and ev[0][1] == T_TRANSPORT_RESET and
          ev[0][2] == bytes([1, 2, 0, 0, 0, 0, 0, 0]) and ev[0][3] == RESCAN,
          "event: rescan of target 2, LUN field 01 02 00 00.. %s" % ev)
    r = s.cmd(2, INQUIRY, in_len=96)
    check(r["response"] == S_OK and r["status"] == GOOD, "target 2 answers INQUIRY")
    r = vcall("vhost_scsi_controller_remove_target", {"ctrlr": "vs0", "scsi_target_num": 2})
    check(r.get("result") is True, "remove target 2")
    ev = s.poll_events(1)
    check(len(ev) == 1 and ev[0][1] == T_TRANSPORT_RESET and ev[0][2][1] == 2 and
          ev[0][3] == REMOVED, "event: target 2 removed")
    check(s.cmd(2, TUR)["response"] == S_BAD_TARGET, "target 2: BAD_TARGET")
    # Three buffers posted: three events use them up, the fourth is missed.
    s.top_up(3)
    time.sleep(0.1)
    for num, bdev in ((4, "Malloc4"), (6, "Malloc5"), (7, "Malloc6")):
        r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": num,
                                                       "bdev_name": bdev})
        check(r.get("result") == num, "add target %d (%s)" % (num, bdev))
    ev = s.poll_events(3, timeout=1)
    check(len(ev) == 3 and all(e[3] == RESCAN for e in ev), "three rescan events used the posted buffers")
    r = vcall("vhost_scsi_controller_remove_target", {"ctrlr": "vs0", "scsi_target_num": 6})
    check(r.get("result") is True, "remove target 6 with no event buffer posted")
    check(s.poll_events(1, timeout=0.3) == [], "no event without a buffer")
    s.post_event()
    ev = s.poll_events(1)
    check(len(ev) == 1 and ev[0][1] == EVENTS_MISSED, "next buffer: NO_EVENT | EVENTS_MISSED (%s)" %
          [hex(e[1]) for e in ev])
    s.top_up(4)
    print("-- bdev resize and hot remove")
    r = vcall("bdev_null_resize", {"name": "Null0", "new_size": 16})
    check(r.get("result") is True, "bdev_null_resize Null0 16 MiB: %s" % r)
    ev = s.poll_events(1)
    check(len(ev) == 1 and ev[0][1] == T_PARAM_CHANGE and ev[0][2][1] == 5 and
          ev[0][3] == 0x2a | 0x09 << 8, "event: parameter change (CAPACITY DATA HAS CHANGED) on target 5")
    r = s.cmd(5, TUR)
    check(r["status"] == CHECK_CONDITION and sense_key(r)[0] == 6,
          "target 5: unit attention %s" % (sense_key(r),))
    r = vcall("bdev_malloc_delete", {"name": "Malloc4"})
    check(r.get("result") is True, "bdev_malloc_delete Malloc4 (target 4)")
    ev = s.poll_events(1)
    check(len(ev) == 1 and ev[0][1] == T_TRANSPORT_RESET and ev[0][2][1] == 4 and
          ev[0][3] == REMOVED, "event: target 4 removed (bdev hot remove)")
    check(wait_for(lambda: 4 not in targets_of("vs0"), 3), "target 4 gone from vhost_get_controllers")
    check(s.cmd(4, TUR)["response"] == S_BAD_TARGET, "target 4: BAD_TARGET")


def clear_ua_q(s, t, q):
    for _ in range(8):
        r = s.cmd(t, TUR, q=q)
        if r.get("status") == GOOD:
            return True
    return False


def pattern(lba, n, seed):
    return bytes(((lba * 131 + i * 7 + seed) & 0xff) for i in range(n * 512))


def io_round(s, target, queues, lbas, seed, nblocks=8, write=True):
    """Write a pattern per LBA range, one range per queue (all in flight at once),
    then read each back through the next queue; True if every request came back
    GOOD with the data. write=False: only the reads (data written before)."""
    ok = True
    for i, lba in enumerate(lbas if write else []):
        s.submit(target, write10(lba, nblocks), out=pattern(lba, nblocks, seed), out_split=2,
                 q=queues[i % len(queues)])
    for q in queues:
        n = sum(1 for i in range(len(lbas)) if queues[i % len(queues)] == q) if write else 0
        got = s.reap(q=q, count=n, timeout=15) if n else []
        if len(got) != n or not all(r.get("response") == S_OK and r.get("status") == GOOD
                                    for r in got):
            print("    io_round: writes on queue %d: %d of %d back: %s" %
                  (q, len(got), n, [(r.get("response"), r.get("status")) for r in got]))
            ok = False
    for i, lba in enumerate(lbas):
        s.submit(target, read10(lba, nblocks), in_len=nblocks * 512, in_split=3,
                 q=queues[(i + 1) % len(queues)])
    want = {}
    for i, lba in enumerate(lbas):
        want.setdefault(queues[(i + 1) % len(queues)], []).append(pattern(lba, nblocks, seed))
    for q, pats in want.items():
        got = s.reap(q=q, count=len(pats), timeout=15)
        if len(got) != len(pats) or not all(r.get("status") == GOOD and r.get("data") in pats
                                            for r in got):
            print("    io_round: reads on queue %d: %d of %d back: %s" %
                  (q, len(got), len(pats), [(r.get("response"), r.get("status"),
                                             r.get("data") in pats) for r in got]))
            ok = False
    return ok


class BackgroundRpc:
    """An RPC called from another thread while the caller drives I/O."""

    def __init__(self, sock, method, params):
        self.box = {}
        self.th = threading.Thread(target=lambda: self.box.update(
            r=raw_call(method, params, sock=sock)))
        self.t_done = None
        self.th.start()

    def settled(self, after=0.3):
        """True once the answer came and `after` seconds of I/O ran since."""
        if self.th.is_alive():
            return False
        if self.t_done is None:
            self.t_done = time.time()
        return time.time() > self.t_done + after

    def result(self):
        self.th.join(30)
        return self.box.get("r", {})


def storm(s, targets, queues, until, depth=4, blocks=8):
    """Reads of the patterns io_round wrote at LBA 1000 + 16 * q (block size 512),
    depth per queue and target, until until() is true. Returns (requests, bad data,
    responses seen)."""
    done, bad, seen = 0, 0, set()
    inflight = {q: 0 for q in queues}
    expect = {q: pattern(1000 + 16 * q, blocks, 9) for q in queues}
    t_end = time.time() + 20
    stop = False
    while time.time() < t_end:
        if not stop and until():
            stop = True
        for q in queues:
            while not stop and inflight[q] < depth * len(targets):
                t = targets[inflight[q] % len(targets)]
                s.submit(t, read10(1000 + 16 * q, blocks), in_len=blocks * 512, q=q)
                inflight[q] += 1
            for head, used, cookie in s.c.queues[q].poll():
                ra, ia, in_len, resp_len = cookie
                sl, resid, sq, st, resp = struct.unpack_from("<IIHBB", s.mem.read(ra, 12))
                seen.add((resp, st))
                if resp == S_OK and st == GOOD:
                    if s.mem.read(ia, in_len) != expect[q]:
                        bad += 1
                inflight[q] -= 1
                done += 1
        if stop and all(n == 0 for n in inflight.values()):
            break
        time.sleep(0.0005)
    return done, bad, seen


def test_cpumask():
    print("-- cpumask: vhost on two cores, a scsi controller on both, 4 request queues")
    msock = os.path.join(TMP, "vhost_mc_rpc.sock")
    v = vhost_e2e.start_vhost("vhost_mc", sock=msock, core_mask="0x3")

    def mcall(method, params=None):
        return raw_call(method, params, sock=msock)
    for name, nb in (("Malloc0", 16384), ("Malloc1", 16384), ("Malloc2", 16384), ("Malloc3", 1024)):
        check("result" in mcall("bdev_malloc_create", {"name": name, "num_blocks": nb,
                                                       "block_size": 512}), "malloc bdev %s" % name)
    check("result" in mcall("bdev_delay_create", {"base_bdev_name": "Malloc3", "name": "Delay0",
                                                   "avg_read_latency": 1000000, "p99_read_latency": 1000000,
                                                   "avg_write_latency": 1000000, "p99_write_latency": 1000000}),
          "delay bdev Delay0 (1 s)")
    verr(v, "cpumask 0x4 on a -m 0x3 app", "vhost_create_scsi_controller",
         {"ctrlr": "vm0", "cpumask": "0x4"}, "core 2", "does not run on")
    verr(v, "cpumask 'zz'", "vhost_create_scsi_controller", {"ctrlr": "vm0", "cpumask": "zz"},
         "Invalid cpumask")
    verr(v, "empty cpumask", "vhost_create_scsi_controller", {"ctrlr": "vm0", "cpumask": "0x0"},
         "Invalid cpumask")
    check(mcall("vhost_create_scsi_controller", {"ctrlr": "vm0", "cpumask": "0x3"}).get("result") is True,
          "vhost_create_scsi_controller vm0 cpumask 0x3")
    for num, bdev in ((0, "Malloc0"), (1, "Delay0"), (2, "Malloc2")):
        r = mcall("vhost_scsi_controller_add_target", {"ctrlr": "vm0", "scsi_target_num": num,
                                                       "bdev_name": bdev})
        check(r.get("result") == num, "vm0 target %d on %s: %s" % (num, bdev, r))
    s = Scsi(os.path.join(SOCKDIR, "vm0"), nreq=4, nevents=4)
    # Connected once queue 0 runs; the others start as the front end enables them.
    wait_for(lambda: (mcall("vhost_get_controllers", {"name": "vm0"}).get("result") or [{}])[0]
             .get("queues") == 6, 5)
    g = (mcall("vhost_get_controllers", {"name": "vm0"}).get("result") or [{}])[0]
    thr = g.get("threads", [])
    check(g.get("cpumask") == "0x3" and g.get("connected") and len(thr) == 2 and
          [t["queues"] for t in thr] == [[0, 2, 4], [1, 3, 5]],
          "vhost_get_controllers: cpumask 0x3, queues 0,2,4 on one thread and 1,3,5 on the other: %s" %
          json.dumps({"cpumask": g.get("cpumask"), "threads": thr}))
    queues = [2, 3, 4, 5]
    for t in (0, 1, 2):
        check(all(clear_ua_q(s, t, q) for q in queues),
              "target %d: every queue's nexus reports its power-on unit attention, then GOOD" % t)

    print("-- cpumask: I/O with data checks on every queue")
    ok = all(io_round(s, 0, queues, [64 * k + 8 * i for i in range(8)], seed=k) for k in range(4))
    check(ok, "4 rounds of 8 writes over 4 queues (both threads), read back through the next queue")
    check(io_round(s, 2, queues, [1000 + 16 * q for q in queues], seed=9, nblocks=8) and
          io_round(s, 0, queues, [1000 + 16 * q for q in queues], seed=9, nblocks=8),
          "the storm's patterns written on targets 0 and 2")

    print("-- cpumask: ABORT TASK of requests on the other thread's queues")
    tags = {q: s.submit(1, read10(0, 8), in_len=4096, q=q) for q in queues}
    time.sleep(0.2)
    # Both TMFs at once: an abort answers once its read's bdev I/O is back (1 s).
    check(s.tmfs([(1, 0, tags[3]), (1, 0, tags[4])]) == [S_OK, S_OK],
          "ABORT TASK of the reads on queue 3 (other thread) and 4 (controlq's thread): FUNCTION COMPLETE")
    res = {q: s.reap(q=q, timeout=10) for q in queues}
    check(all(len(r) == 1 for r in res.values()) and res[3][0]["response"] == S_ABORTED and
          res[4][0]["response"] == S_ABORTED and res[2][0]["response"] == S_OK and
          res[5][0]["response"] == S_OK and res[5][0]["status"] == GOOD,
          "queues 3 and 4 ABORTED, queues 2 and 5 GOOD: %s" %
          {q: r and r[0].get("response") for q, r in res.items()})
    tag = s.submit(1, read10(0, 8), in_len=4096, q=5)
    # Asked again until found (the other thread may not have popped it yet on a
    # loaded machine); the read takes 1 s.
    answers = []
    for _ in range(10):
        time.sleep(0.05)
        answers.append(s.tmf(1, 6, tag=tag))
        if answers[-1] == 10:
            break
    check(answers[-1] == 10 and set(answers) <= {S_OK, 10},
          "QUERY TASK of a read in flight on queue 5: FUNCTION SUCCEEDED (%s)" % answers)
    check(s.tmf(1, 1) == S_OK, "ABORT TASK SET: FUNCTION COMPLETE")
    r = s.reap(q=5, timeout=10)
    check(len(r) == 1 and r[0]["response"] == S_ABORTED, "ABORT TASK SET aborted the read on queue 5 (%s)" %
          [(x.get("response"), x.get("status")) for x in r])

    print("-- cpumask: LUN RESET under I/O on every queue")
    for q in queues:
        for _ in range(8):
            s.submit(0, read10(1000 + 16 * q, 8), in_len=4096, q=q)
        s.submit(1, read10(0, 8), in_len=4096, q=q)
    check(s.tmf(0, 5) == S_OK and s.tmf(1, 5) == S_OK,
          "LUN RESET of targets 0 and 1 with 36 reads in flight: FUNCTION COMPLETE")
    res = {q: s.reap(q=q, count=9, timeout=15) for q in queues}
    check(all(len(r) == 9 for r in res.values()) and
          all(x["response"] in (S_OK, S_ABORTED) for r in res.values() for x in r) and
          sum(1 for r in res.values() for x in r if x["response"] == S_ABORTED) >= 4,
          "every read came back (GOOD or ABORTED; the delayed ones ABORTED): %s" %
          sorted(set((x["response"], x["status"]) for r in res.values() for x in r)))
    uas = [s.cmd(1, TUR, q=q) for q in queues]
    check(all(r.get("status") == CHECK_CONDITION and sense_key(r)[:2] == (6, 0x29) for r in uas[:2]),
          "the first TEST UNIT READY on queues 2 and 3 (one per thread) reports the reset")
    for t in (0, 1):
        for q in queues:
            clear_ua_q(s, t, q)
    check(io_round(s, 0, queues, [1000 + 16 * q for q in queues], seed=9, write=False),
          "data intact after the resets (read through every queue)")

    print("-- cpumask: target remove and add while I/O runs on every queue")
    s.top_up(4)
    bg = BackgroundRpc(msock, "vhost_scsi_controller_remove_target",
                       {"ctrlr": "vm0", "scsi_target_num": 2})
    n, bad, seen = storm(s, [0, 2], queues, bg.settled)
    r = bg.result()
    check(r.get("result") is True, "remove_target 2 under I/O: %s" % r)
    check(n > 100 and bad == 0 and seen <= {(S_OK, GOOD), (S_BAD_TARGET, 0)},
          "%d reads on targets 0 and 2 over 4 queues: all GOOD with the data or BAD_TARGET "
          "once target 2 went (%s)" % (n, sorted(seen)))
    ev = s.poll_events(1)
    check(any(e[1] == T_TRANSPORT_RESET and e[2][1] == 2 and e[3] == REMOVED for e in ev),
          "event: target 2 removed")
    bg = BackgroundRpc(msock, "vhost_scsi_controller_add_target",
                       {"ctrlr": "vm0", "scsi_target_num": 2, "bdev_name": "Malloc2"})
    n, bad, seen = storm(s, [0], queues, bg.settled)
    r = bg.result()
    check(r.get("result") == 2 and n > 100 and bad == 0 and seen == {(S_OK, GOOD)},
          "add_target 2 while %d reads run on target 0: %s" % (n, r))
    ev = s.poll_events(1)
    check(any(e[1] == T_TRANSPORT_RESET and e[2][1] == 2 and e[3] == RESCAN for e in ev),
          "event: target 2 rescan")
    ua = [clear_ua_q(s, 2, q) for q in queues]
    check(all(ua), "target 2 back: every queue's nexus reports its unit attentions, then GOOD %s" % ua)
    check(io_round(s, 2, queues, [1000 + 16 * q for q in queues], seed=9, write=False) and
          io_round(s, 2, queues, [3000 + 8 * i for i in range(8)], seed=5),
          "target 2 back on the same bdev: every queue reads the data and writes")

    print("-- cpumask: bdev hot remove under I/O")
    bg = BackgroundRpc(msock, "bdev_malloc_delete", {"name": "Malloc2"})
    n, bad, seen = storm(s, [0, 2], queues, bg.settled)
    r = bg.result()
    check(r.get("result") is True, "bdev_malloc_delete Malloc2 under I/O: %s" % r)
    check(n > 100 and bad == 0 and (S_OK, GOOD) in seen and (S_BAD_TARGET, 0) in seen and
          seen <= {(S_OK, GOOD), (S_BAD_TARGET, 0), (S_OK, CHECK_CONDITION)},
          "%d reads: GOOD with the data, then BAD_TARGET (%s)" % (n, sorted(seen)))
    ev = s.poll_events(1)
    check(any(e[1] == T_TRANSPORT_RESET and e[2][1] == 2 and e[3] == REMOVED for e in ev),
          "event: target 2 removed (hot remove) %s" % [(e[0], hex(e[1]), e[2].hex(), e[3]) for e in ev])
    check(wait_for(lambda: 2 not in mtargets(msock, "vm0"), 3), "target 2 gone from vhost_get_controllers")
    check(io_round(s, 0, queues, [2000 + 8 * i for i in range(8)], seed=3), "target 0 serves on")
    check(alive(v), "vhost serving")

    print("-- cpumask: save_config and a new app from it")
    cfg = mcall("save_config").get("result") or {}
    vsc = {x["subsystem"]: x.get("config") for x in cfg.get("subsystems", [])}.get("vhost_scsi") or []
    check(vsc and vsc[0]["params"] == {"ctrlr": "vm0", "cpumask": "0x3"},
          "save_config: vhost_create_scsi_controller with cpumask 0x3: %s" % json.dumps(vsc)[:300])
    cfg_path = os.path.join(TMP, "saved_mc.json")
    with open(cfg_path, "w") as fh:
        json.dump(cfg, fh)
    s.close()
    check(stop_tgt(v) == 0, "vhost (2 cores) exits 0 on SIGTERM")
    v = vhost_e2e.start_vhost("vhost_mc2", sock=msock, core_mask="0x3", extra=("--json", cfg_path))
    g = (mcall("vhost_get_controllers", {"name": "vm0"}).get("result") or [{}])[0]
    check(g.get("cpumask") == "0x3" and sorted(mtargets(msock, "vm0")) == [0, 1],
          "rebuilt: cpumask %s, targets %s" % (g.get("cpumask"), sorted(mtargets(msock, "vm0"))))
    s = Scsi(os.path.join(SOCKDIR, "vm0"), nreq=2)
    check(all(clear_ua_q(s, 0, q) for q in (2, 3)) and
          io_round(s, 0, [2, 3], [64 * k for k in range(6)], seed=4),
          "the rebuilt controller writes and reads on both threads' queues")
    # SIGTERM with the client connected: the controller's threads end after its targets.
    check(stop_tgt(v) == 0, "vhost (2 cores, client connected) exits 0")
    s.close()


def mtargets(sock, name):
    g = raw_call("vhost_get_controllers", {"name": name}, sock=sock).get("result") or [{}]
    return {t["id"]: t for t in g[0].get("backend_specific", {}).get("scsi", [])}


def targets_of(name):
    g = vcall("vhost_get_controllers", {"name": name}).get("result") or [{}]
    return {t["id"]: t for t in g[0].get("backend_specific", {}).get("scsi", [])}


def body():
    v = start_vhost()
    for name, nb, bs in (("Malloc0", 16384, 512), ("Malloc1", 1024, 4096), ("Malloc2", 1024, 512),
                         ("Malloc3", 1024, 512), ("Malloc4", 1024, 512), ("Malloc5", 1024, 512),
                         ("Malloc6", 1024, 512)):
        check("result" in vcall("bdev_malloc_create", {"name": name, "num_blocks": nb,
                                                       "block_size": bs}), "malloc bdev %s" % name)
    check("result" in vcall("bdev_null_create", {"name": "Null0", "num_blocks": 8192, "block_size": 512}),
          "null bdev Null0")
    check("result" in vcall("bdev_delay_create", {"base_bdev_name": "Malloc3", "name": "Delay0",
                                                   "avg_read_latency": 300000, "p99_read_latency": 300000,
                                                   "avg_write_latency": 300000, "p99_write_latency": 300000}),
          "delay bdev Delay0 over Malloc3")

    print("-- RPCs")
    verr(v, "cpumask with a core the app does not run on", "vhost_create_scsi_controller",
         {"ctrlr": "vs0", "cpumask": "0x2"}, "cpumask", "core 1")
    verr(v, "ctrlr with '/'", "vhost_create_scsi_controller", {"ctrlr": "a/b"}, "ctrlr")
    r = vcall("vhost_create_scsi_controller", {"ctrlr": "vs0"})
    check(r.get("result") is True, "vhost_create_scsi_controller vs0: %s" % r)
    verr(v, "same name twice", "vhost_create_scsi_controller", {"ctrlr": "vs0"}, "already exists")
    verr(v, "add_target to unknown controller", "vhost_scsi_controller_add_target",
         {"ctrlr": "nosuch", "scsi_target_num": 0, "bdev_name": "Malloc0"}, "nosuch", "controller")
    verr(v, "add_target unknown bdev", "vhost_scsi_controller_add_target",
         {"ctrlr": "vs0", "scsi_target_num": 0, "bdev_name": "nobdev"}, "nobdev", "bdev")
    verr(v, "add_target number 8", "vhost_scsi_controller_add_target",
         {"ctrlr": "vs0", "scsi_target_num": 8, "bdev_name": "Malloc0"}, "0..7")
    verr(v, "add_target without scsi_target_num", "vhost_scsi_controller_add_target",
         {"ctrlr": "vs0", "bdev_name": "Malloc0"}, "scsi_target_num")
    r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 0,
                                                   "bdev_name": "Malloc0"})
    check(r.get("result") == 0, "add target 0 (Malloc0): %s" % r)
    verr(v, "target 0 again", "vhost_scsi_controller_add_target",
         {"ctrlr": "vs0", "scsi_target_num": 0, "bdev_name": "Malloc1"}, "taken")
    r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": -1,
                                                   "bdev_name": "Malloc1"})
    check(r.get("result") == 1, "add target -1 (Malloc1) -> 1: %s" % r)
    for num, bdev in ((3, "Delay0"), (5, "Null0")):
        r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": num,
                                                       "bdev_name": bdev})
        check(r.get("result") == num, "add target %d (%s)" % (num, bdev))
    verr(v, "remove absent target", "vhost_scsi_controller_remove_target",
         {"ctrlr": "vs0", "scsi_target_num": 2}, "no such target")
    r = vcall("vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "Malloc6"})
    check(r.get("result") is True, "a blk controller beside it")
    verr(v, "add_target on a blk controller", "vhost_scsi_controller_add_target",
         {"ctrlr": "vb0", "scsi_target_num": 0, "bdev_name": "Malloc0"}, "not a vhost-scsi")
    check("result" in vcall("vhost_delete_controller", {"ctrlr": "vb0"}), "blk controller deleted")
    t = targets_of("vs0")
    check(sorted(t) == [0, 1, 3, 5] and t[0]["target_name"] == "Target 0" and
          t[0]["scsi_dev_num"] == 0 and t[1]["luns"] == [{"id": 0, "bdev_name": "Malloc1"}],
          "vhost_get_controllers: backend_specific.scsi %s" % json.dumps(t)[:300])

    path = os.path.join(SOCKDIR, "vs0")
    print("-- connect")
    s = Scsi(path, nreq=2, nevents=2)
    cfg = s.c.get_config(36)
    f = struct.unpack("<IIIIIIIHHI", cfg) if len(cfg) == 36 else None
    check(f is not None and f[0] == 6 and f[4] == 16 and f[5] == 96 and f[6] == 32 and f[7] == 0 and
          f[8] == 7 and f[9] == 63, "GET_CONFIG: virtio_scsi_config %s" % (f,))
    check(s.c.negotiated & F_HOTPLUG and s.c.negotiated & F_CHANGE, "HOTPLUG and CHANGE offered")
    check(wait_for(lambda: (vcall("vhost_get_controllers", {"name": "vs0"}).get("result") or [{}])[0]
                   .get("connected"), 5), "vs0 shows connected")
    test_commands(v, s)
    test_bad_requests(v, s)
    test_controlq(v, s)
    test_delay(v, s)
    test_events(v, s)
    r = s.cmd(1, TUR, q=3)
    check(r.get("response") == S_OK, "second request queue serves too")

    print("-- the client vanishes with a command in flight, then comes back")
    r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 3,
                                                   "bdev_name": "Delay0"})
    check(r.get("result") == 3, "target 3 on Delay0 again")
    clear_ua(s, 3)
    s.submit(3, read10(0, 8), in_len=4096)
    time.sleep(0.05)
    s.close()
    check(wait_for(lambda: not (vcall("vhost_get_controllers", {"name": "vs0"}).get("result") or
                                [{}])[0].get("connected"), 5), "vs0 no longer connected")
    # The count includes the eventq buffers the back end holds (given back as it stops).
    m = re.search(r"device stopping \((\d+) request\(s\) in flight\)", tgt_log(v))
    check(m is not None and int(m.group(1)) >= 1,
          "the device stopped with the command in flight (and waited for it): %s" %
          (m and m.group(0)))
    check(alive(v), "vhost serving")
    s = Scsi(path, nreq=1)
    r = s.cmd(0, read10(100, 1), in_len=512)
    if r.get("status") == CHECK_CONDITION:
        r = s.cmd(0, read10(100, 1), in_len=512)
    check(r.get("status") == GOOD and r["data"] == bytes((i * 7 + 3) & 0xff for i in range(512)),
          "a new connection reads the data written before")

    print("-- vhost_delete_controller with targets and a connected client")
    check(vcall("vhost_create_scsi_controller", {"ctrlr": "vs1"}).get("result") is True, "vs1 created")
    for num, bdev in ((0, "Malloc2"), (1, "Malloc5")):
        r = vcall("vhost_scsi_controller_add_target", {"ctrlr": "vs1", "scsi_target_num": num,
                                                       "bdev_name": bdev})
        check(r.get("result") == num, "vs1 target %d on %s" % (num, bdev))
    s1 = Scsi(os.path.join(SOCKDIR, "vs1"), nreq=1)
    clear_ua(s1, 0)
    check(s1.cmd(0, INQUIRY, in_len=96).get("status") == GOOD, "vs1 target 0 serves")
    r = vcall("vhost_delete_controller", {"ctrlr": "vs1"})
    check(r.get("result") is True, "vhost_delete_controller vs1: %s" % r)
    check(not os.path.exists(os.path.join(SOCKDIR, "vs1")), "vs1 socket removed")
    s1.close()
    check(wait_for(lambda: vcall("bdev_malloc_delete", {"name": "Malloc2"}).get("result") is True, 3),
          "Malloc2 released by the deleted controller (bdev_malloc_delete works)")
    check(alive(v) and sorted(targets_of("vs0")) == [0, 1, 3, 5, 7], "vs0 untouched")

    print("-- save_config, and a new vhost app built from it")
    cfg = vcall("save_config").get("result") or {}
    subs = {x["subsystem"]: x.get("config") for x in cfg.get("subsystems", [])}
    vsc = subs.get("vhost_scsi") or []
    check([c["method"] for c in vsc] == ["vhost_create_scsi_controller"] +
          ["vhost_scsi_controller_add_target"] * 5 and
          vsc[1]["params"] == {"ctrlr": "vs0", "scsi_target_num": 0, "bdev_name": "Malloc0"},
          "save_config: vhost_scsi subsystem %s" % json.dumps(vsc)[:400])
    names = [x["subsystem"] for x in cfg.get("subsystems", [])]
    check("bdev" in names and "vhost_scsi" in names and names.index("bdev") < names.index("vhost_scsi"),
          "vhost_scsi after bdev in the config")
    cfg_path = os.path.join(TMP, "saved.json")
    with open(cfg_path, "w") as fh:
        json.dump(cfg, fh)
    s.close()
    check(stop_tgt(v) == 0, "vhost exits 0 on SIGTERM")
    v = start_vhost("--json", cfg_path)
    t = targets_of("vs0")
    check(sorted(t) == [0, 1, 3, 5, 7],
          "rebuilt from save_config: targets %s" % sorted(t))
    s = Scsi(path, nreq=1)
    clear_ua(s, 0)
    r = s.cmd(0, INQUIRY, in_len=96)
    check(r.get("status") == GOOD, "the rebuilt controller serves")
    print("-- SIGTERM with a connected client")
    check(stop_tgt(v) == 0, "vhost exits 0 with a client connected")
    check(not os.path.exists(path), "socket removed")
    s.close()
    test_cpumask()


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

#!/usr/bin/env python3
"""A vhost daemon killed with SIGKILL while requests are in flight, and
restarted: the front end (a Python vhost-user front end doing what QEMU does
with reconnect=1, vhost_user_client.py's rings) gets every request back with
status OK and the data written, without a guest:

- the front end negotiates INFLIGHT_SHMFD, gets the inflight region
  (GET_INFLIGHT_FD), hands it back (SET_INFLIGHT_FD), starts its queues;
- three 4 KiB writes are held in a delay bdev (3 s); once vhost popped them the
  region shows them in flight; a read behind them completes first; vhost is
  SIGKILLed;
- a new vhost (same socket, no delay, a fresh malloc bdev) accepts the
  reconnect: SET_INFLIGHT_FD with the same region and the queue base QEMU
  would give (split: the used index; packed: the position of the last start,
  since QEMU cannot read a packed ring's position from memory); the three
  writes come back once each with status OK, a request posted after the
  reconnect too, the region has nothing in flight, and reads return the
  written data (the writes were really resubmitted: the new bdev started empty).

Rounds: vhost-user-blk on a split ring; again with the queue on a poll group
thread of its own (cpumask 0x1); vhost-user-blk on a packed ring of 16 whose
wrap counter flips among the requests in flight; vhost-user-scsi on packed
rings (control, event, request queue: the event queue's buffers are in flight
too and are held again after the restart; a first client clears the new
target's unit attention). Then bad inflight messages: a region for 1000 queues
(GET) and a mapping too small for its queues (SET) are refused (the
connection is dropped, the daemon serves on).
Prints "N passed, N failed".
"""

import mmap
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osp_e2e import BIN_DIR, TMP, check, procs, raw_call, run, stop_tgt, tgt_log, wait_for  # noqa: E402
import vhost_user_client as vu  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhost_e2e  # noqa: E402

VHOST = os.path.join(BIN_DIR, "vhost")
VSOCK = os.path.join(TMP, "vhost_rs_rpc.sock")
SOCKDIR = vhost_e2e.SOCKDIR
GET_INFLIGHT_FD = 31
SET_INFLIGHT_FD = 32
PF_INFLIGHT = 1 << 12
QSIZE = 64
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
F_SCSI = (1 << 1) | (1 << 2)    # HOTPLUG, CHANGE


def start_vhost(write_delay_us, kind="blk", cpumask=None, packed=False):
    p = vhost_e2e.start_vhost("vhost_rs_%d" % len(procs), sock=VSOCK)
    calls = [("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}),
             ("bdev_delay_create", {"base_bdev_name": "Malloc0", "name": "Delay0",
                                    "avg_read_latency": 0, "p99_read_latency": 0,
                                    "avg_write_latency": write_delay_us,
                                    "p99_write_latency": write_delay_us})]
    if kind == "blk":
        prm = {"ctrlr": "vb0", "dev_name": "Delay0"}
        if cpumask:
            prm["cpumask"] = cpumask
        if packed:
            prm["packed_ring"] = True
        calls.append(("vhost_create_blk_controller", prm))
    else:
        calls += [("vhost_create_scsi_controller", {"ctrlr": "vb0"}),
                  ("vhost_scsi_controller_add_target", {"ctrlr": "vb0", "scsi_target_num": 0,
                                                        "bdev_name": "Delay0"})]
    for m, prm in calls:
        r = raw_call(m, prm, sock=VSOCK)
        if "error" in r:
            raise RuntimeError("%s: %s" % (m, r))
    return p


def requests_seen():
    r = raw_call("vhost_get_controllers", {"name": "vb0"}, sock=VSOCK).get("result")
    return r[0].get("requests", 0) if r else 0


def inflight_payload(mmap_size, num_queues, queue_size):
    return struct.pack("<QQHH4x", mmap_size, 0, num_queues, queue_size)


def connect(mem, qs, inflight=None, packed=False, bases=None):
    """The dialogue of QEMU's vhost-user-blk start (with the inflight region):
    returns (client, (region fd, region size)) once the queues are enabled.
    bases: the SET_VRING_BASE value per queue (default: split, the used index;
    packed, the queue's current position, i.e. a first start)."""
    c = vu.Client.__new__(vu.Client)
    c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.sock.settimeout(10)
    c.sock.connect(os.path.join(SOCKDIR, "vb0"))
    c.mem, c.queues, c.fds = mem, list(qs), []
    feats = c.get_u64(vu.GET_FEATURES)
    pf = c.get_u64(vu.GET_PROTOCOL_FEATURES)
    c.send(vu.SET_PROTOCOL_FEATURES, struct.pack("<Q", pf & (vu.PF_CONFIG | vu.PF_MQ | PF_INFLIGHT)))
    c.send(vu.SET_OWNER)
    want = vu.F_VERSION_1 | vu.F_PROTOCOL_FEATURES | (vu.F_RING_PACKED if packed else 0) | F_SCSI
    if packed and not feats & vu.F_RING_PACKED:
        raise RuntimeError("packed rings not offered")
    # As QEMU (vhost_dev_prepare_inflight): the features first, so that the
    # back end lays the inflight region out for the ring type.
    c.send(vu.SET_FEATURES, struct.pack("<Q", feats & want))
    calls = []
    for i, q in enumerate(qs):
        call = os.eventfd(0, os.EFD_NONBLOCK)
        calls.append(call)
        c.fds.append(call)
        # QEMU sets the call fds at init, so that the back end has its queues.
        c.send(vu.SET_VRING_CALL, struct.pack("<Q", i), fds=[call])
    qsize = qs[0].n
    if inflight is None:
        c.send(GET_INFLIGHT_FD, inflight_payload(0, len(qs), qsize))
        data, fds, _, _ = socket.recv_fds(c.sock, 12 + 24, 1)
        size = struct.unpack_from("<Q", data, 12)[0]
        inflight = (fds[0], size)
    c.send(SET_INFLIGHT_FD, inflight_payload(inflight[1], len(qs), qsize), fds=[inflight[0]])
    c.send(vu.SET_MEM_TABLE, struct.pack("<II", 1, 0) +
           struct.pack("<QQQQ", 0, mem.size, vu.USER_BASE, 0), fds=[mem.fd])
    for i, q in enumerate(qs):
        if bases is not None:
            base = bases[i]
        elif packed:
            base = q.base()
        else:
            base = mem.r16(q.used + 2)
        kick = os.eventfd(0, os.EFD_NONBLOCK)
        c.fds.append(kick)
        c.send(vu.SET_VRING_NUM, struct.pack("<II", i, q.n))
        c.send(vu.SET_VRING_BASE, struct.pack("<II", i, base))
        c.send(vu.SET_VRING_ADDR, struct.pack("<IIQQQQ", i, 0, vu.USER_BASE + q.desc,
                                              vu.USER_BASE + q.used, vu.USER_BASE + q.avail, 0))
        c.send(vu.SET_VRING_KICK, struct.pack("<Q", i), fds=[kick])
        q.kickfd = kick
        c.send(vu.SET_VRING_CALL, struct.pack("<Q", i), fds=[calls[i]])
        c.send(vu.SET_VRING_ENABLE, struct.pack("<II", i, 1))
    return c, inflight


def blk_req(mem, q, write, sector, data=None):
    hdr = mem.alloc(16)
    mem.write(hdr, struct.pack("<IIQ", 1 if write else 0, 0, sector))
    buf = mem.alloc(4096, 4096)
    st = mem.alloc(1)
    mem.write(st, b"\xee")
    if write:
        mem.write(buf, data)
    return q.add([(hdr, 16, False), (buf, 4096, not write), (st, 1, True)], cookie=(st, buf))


def blk_ok(mem, ck):
    return ck is not None and mem.read(ck[0], 1) == b"\x00"


def scsi_req(mem, q, write, sector, data=None):
    """WRITE(10) / READ(10) of 8 blocks (4 KiB) to target 0 LUN 0."""
    cdb = struct.pack(">BBIBHB", 0x2a if write else 0x28, 0, sector, 0, 8, 0)
    hdr = mem.alloc(51)
    mem.write(hdr, bytes([1, 0, 0x40, 0, 0, 0, 0, 0]) + struct.pack("<QBBB", 7, 0, 0, 0) +
              cdb.ljust(32, b"\0"))
    resp = mem.alloc(108)
    mem.write(resp, b"\xee" * 108)
    buf = mem.alloc(4096, 4096)
    if write:
        mem.write(buf, data)
        bufs = [(hdr, 51, False), (buf, 4096, False), (resp, 108, True)]
    else:
        bufs = [(hdr, 51, False), (resp, 108, True), (buf, 4096, True)]
    return q.add(bufs, cookie=(resp, buf))


def scsi_ok(mem, ck):
    # response 0 (OK) and SAM status 0 (GOOD)
    return ck is not None and mem.read(ck[0] + 10, 2) == b"\x00\x00"


def region_inflight(region, packed, qsize, qidx=0):
    """The requests the region shows in flight on queue qidx: split, the head
    indexes; packed, the buffer IDs (each chain's last entry's copy)."""
    if packed:
        area = (32 * qsize + 29 + 63) & ~63
        base = qidx * area
        out = []
        for i in range(qsize):
            e = base + 32 + 32 * i
            if region[e] == 1:
                last = struct.unpack_from("<H", region, e + 4)[0]
                out.append(struct.unpack_from("<H", region, base + 32 + 32 * last + 16)[0]
                           if last < qsize else -1)
        return out
    area = (16 * qsize + 16 + 63) & ~63
    return [i for i in range(qsize) if region[qidx * area + 16 + 16 * i] == 1]


def scsi_tur_until_good(mem, q):
    """TEST UNIT READY until GOOD: a new target reports its POWER ON unit
    attention to the first command (a guest's SCSI layer would retry)."""
    for _ in range(4):
        hdr = mem.alloc(51)
        mem.write(hdr, bytes([1, 0, 0x40, 0, 0, 0, 0, 0]) + struct.pack("<QBBB", 1, 0, 0, 0) +
                  bytes(32))
        resp = mem.alloc(108)
        q.add([(hdr, 51, False), (resp, 108, True)], resp)
        got = q.wait(1, 5)
        if got and mem.read(got[0][2] + 10, 2) == b"\x00\x00":
            return True
    return False


def clear_unit_attention():
    """A first front end on the new daemon's scsi controller clears the new
    target's unit attention, so that the resubmitted writes run."""
    c = vu.Client(os.path.join(SOCKDIR, "vb0"), 4 << 20)
    c.start(F_SCSI, 3, 16)
    good = scsi_tur_until_good(c.mem, c.queues[2])
    c.close()
    return good


def body():
    restart_round("blk", None, False)
    restart_round("blk", "0x1", False)
    restart_round("blk", None, True)
    restart_round("scsi", None, False)
    restart_round("scsi", None, True)


def restart_round(kind, cpumask, packed):
    print("== vhost-user-%s, %s rings%s" % (kind, "packed" if packed else "split",
                                             ", cpumask %s (the queue on a poll group thread of "
                                             "its own)" % cpumask if cpumask else ""))
    mem = vu.Memory(32 << 20)
    qsize = 16 if packed else QSIZE
    Q = vu.PackedQueue if packed else vu.Queue
    nq = 3 if kind == "scsi" else 1
    qs, base = [], 0x1000
    for i in range(nq):
        qs.append(Q(mem, i, base, qsize))
        base = (qs[-1].end + 0xfff) & ~0xfff
    q = qs[-1]      # blk: queue 0; scsi: the request queue (2)
    req, ok = (scsi_req, scsi_ok) if kind == "scsi" else (blk_req, blk_ok)
    v = start_vhost(3000000, kind, cpumask, packed)
    first_bases = [x.base() for x in qs] if packed else None
    c, inflight = connect(mem, qs, packed=packed)
    check(inflight[1] >= (32 if packed else 16) * qsize * nq,
          "GET_INFLIGHT_FD: a region of %d bytes" % inflight[1])
    region = mmap.mmap(inflight[0], inflight[1])
    check(wait_for(lambda: "device started" in tgt_log(v), 10), "device started")
    events = []
    if kind == "scsi":
        for _ in range(2):
            a = mem.alloc(16)
            mem.write(a, b"\xee" * 16)
            events.append(qs[1].add([(a, 16, True)], a))
        check(wait_for(lambda: sorted(region_inflight(region, packed, qsize, 1)) == sorted(events), 5),
              "two event buffers held by the device: in flight in the region")
        check(scsi_tur_until_good(mem, q), "TEST UNIT READY: GOOD (unit attention cleared)")
    if packed:
        # Move the ring on so that the requests held below straddle its end
        # (the wrap counter flips among them).
        for i in range(3 if kind == "blk" else 2):
            req(mem, q, False, 4000 + 8 * i)
        warm = q.wait(3 if kind == "blk" else 2, 15)
        check(len(warm) in (2, 3) and all(ok(mem, ck) for _, _, ck in warm),
              "%d reads completed first" % len(warm) + " (ring at slot %d of %d)" % (q.avail_pos, qsize))

    print("-- three writes held in the delay bdev, then SIGKILL")
    patterns = {}
    ids = []
    seen0 = requests_seen()
    for i, sector in enumerate((8, 64, 1024)):
        patterns[sector] = bytes([0x40 + i]) * 4096
        ids.append(req(mem, q, True, sector, patterns[sector]))
    check(wait_for(lambda: requests_seen() >= seen0 + 3, 5), "vhost popped the three writes")
    check(q.poll() == [], "nothing completed yet")
    if packed:
        check(q.avail_wrap == 0, "the driver's wrap counter flipped among them")
    # A read behind them completes at once: the used ring is ahead of the oldest
    # request in flight, so re-reading the ring from its used position could not recover.
    rd = req(mem, q, False, 4096)
    got = q.wait(1, 5)
    check([h for h, _, _ in got] == [rd] and ok(mem, got[0][2]),
          "a read posted after them completed first (out of order)")
    check(sorted(region_inflight(region, packed, qsize, nq - 1)) == sorted(ids),
          "the region shows %s in flight: %s" % (sorted(ids), region_inflight(region, packed, qsize, nq - 1)))
    v.send_signal(signal.SIGKILL)
    v.wait()
    procs.remove(v)
    c.sock.close()
    check(sorted(region_inflight(region, packed, qsize, nq - 1)) == sorted(ids),
          "still in flight after the kill")

    print("-- restart, reconnect: resubmitted")
    v2 = start_vhost(0, kind, cpumask, packed)
    if kind == "scsi":
        check(clear_unit_attention(), "a first front end cleared the new target's unit attention")
    # QEMU after losing its back end: split, the used index; packed, what it
    # gave at the last start (it cannot read a packed ring's position).
    c2, _ = connect(mem, qs, inflight, packed, first_bases)
    got = q.wait(3, 10)
    check(sorted(h for h, _, _ in got) == sorted(ids),
          "the three writes completed once each after the restart: %s" % [h for h, _, _ in got])
    check(all(ok(mem, ck) for _, _, ck in got), "with status OK")
    check(wait_for(lambda: "resubmitted" in tgt_log(v2), 2), "vhost logged the resubmission")
    if packed:
        check("ring position from the inflight region" in tgt_log(v2),
              "vhost took the ring position from the region, not the front end's")
    h4 = req(mem, q, True, 2048, b"\x55" * 4096)
    got = q.wait(1, 5)
    check([h for h, _, _ in got] == [h4] and ok(mem, got[0][2]),
          "a request posted after the reconnect completes")
    check(region_inflight(region, packed, qsize, nq - 1) == [], "nothing left in flight in the region")
    if kind == "scsi":
        check(qs[1].poll() == [] and
              sorted(region_inflight(region, packed, qsize, 1)) == sorted(events),
              "the event buffers are held again (in flight, not completed)")
    reads = {req(mem, q, False, s): s for s in patterns}
    got = q.wait(3, 5)
    good = len(got) == 3 and all(ok(mem, ck) and mem.read(ck[1], 4096) == patterns[reads[h]]
                                 for h, _, ck in got)
    check(good, "reads return the resubmitted writes' data (the new bdev started empty)")
    extra = q.poll()
    check(extra == [], "no duplicate completion")
    if kind == "blk" and cpumask is None and not packed:
        bad_messages(v2)
    c2.sock.close()
    region.close()
    os.close(inflight[0])
    check(stop_tgt(v2) == 0, "vhost exits 0 on SIGTERM")
    bad = [k for k in SANITIZER if k in tgt_log(v2)]
    check(not bad, "no sanitizer report %s" % bad)


def bad_messages(v):
    print("-- bad inflight messages")
    for what, rq, payload in (("GET_INFLIGHT_FD for 1000 queues", GET_INFLIGHT_FD,
                               inflight_payload(0, 1000, QSIZE)),
                              ("SET_INFLIGHT_FD with a mapping too small", SET_INFLIGHT_FD,
                               inflight_payload(1024, 2, QSIZE))):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(os.path.join(SOCKDIR, "vb0"))
        fd = os.memfd_create("bad-inflight", 0)
        os.ftruncate(fd, 4096)
        hdr = struct.pack("<III", rq, 1, len(payload))
        socket.send_fds(s, [hdr + payload], [fd] if rq == SET_INFLIGHT_FD else [])
        try:
            closed = s.recv(64) == b""
        except ConnectionError:
            closed = True
        except socket.timeout:
            closed = False
        check(closed, "%s: refused, connection dropped" % what)
        s.close()
        os.close(fd)
        check(v.poll() is None and "result" in raw_call("spdk_get_version", sock=VSOCK),
              "  vhost serving after it")
    log = tgt_log(v)
    check("inflight region for 1000 queue(s) of 64 refused" in log and
          "inflight region of 1024 bytes for 2 queue(s) of 64 refused (too small)" in log,
          "both refusals logged")


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

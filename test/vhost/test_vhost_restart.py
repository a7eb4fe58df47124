#!/usr/bin/env python3
"""A vhost daemon killed with SIGKILL while requests are in flight, and
restarted: the front end (a Python vhost-user front end doing what QEMU does
with reconnect=1, vhost_user_client.py's rings) gets every request back with
status OK and the data written, without a guest:

- the front end negotiates INFLIGHT_SHMFD, gets the inflight region
  (GET_INFLIGHT_FD), hands it back (SET_INFLIGHT_FD), starts one split queue;
- three 4 KiB writes are held in a delay bdev (3 s); once vhost popped them the
  region shows their heads in flight; vhost is SIGKILLed;
- a new vhost (same socket, no delay, a fresh malloc bdev) accepts the
  reconnect: SET_INFLIGHT_FD with the same region, the queue's base set to the
  used index (as QEMU does when it lost the back end); the three writes come
  back once each with status OK, a request posted after the reconnect too, the
  region has nothing in flight, and reads return the written data (the writes
  were really resubmitted: the new malloc bdev started empty);
- both again with the controller's queue on a poll group thread of its own
  (cpumask 0x1);
- bad inflight messages: a region for 1000 queues (GET) and a mapping too small
  for its queues (SET) are refused (the connection is dropped, the daemon serves on).
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


def start_vhost(write_delay_us, cpumask=None):
    p = vhost_e2e.start_vhost("vhost_rs_%d" % len(procs), sock=VSOCK)
    for m, prm in (("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}),
                   ("bdev_delay_create", {"base_bdev_name": "Malloc0", "name": "Delay0",
                                          "avg_read_latency": 0, "p99_read_latency": 0,
                                          "avg_write_latency": write_delay_us,
                                          "p99_write_latency": write_delay_us}),
                   ("vhost_create_blk_controller", dict({"ctrlr": "vb0", "dev_name": "Delay0"},
                                                        **({"cpumask": cpumask} if cpumask else {})))):
        r = raw_call(m, prm, sock=VSOCK)
        if "error" in r:
            raise RuntimeError("%s: %s" % (m, r))
    return p

def requests_seen():
    r = raw_call("vhost_get_controllers", {"name": "vb0"}, sock=VSOCK).get("result")
    return r[0].get("requests", 0) if r else 0


def inflight_payload(mmap_size, num_queues, queue_size):
    return struct.pack("<QQHH4x", mmap_size, 0, num_queues, queue_size)


def connect(mem, q, inflight=None):
    """The dialogue of QEMU's vhost-user-blk start (with the inflight region):
    returns (client, region fd, region size) once the queue is enabled."""
    c = vu.Client.__new__(vu.Client)
    c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.sock.settimeout(10)
    c.sock.connect(os.path.join(SOCKDIR, "vb0"))
    c.mem, c.queues, c.fds = mem, [q], []
    feats = c.get_u64(vu.GET_FEATURES)
    pf = c.get_u64(vu.GET_PROTOCOL_FEATURES)
    c.send(vu.SET_PROTOCOL_FEATURES, struct.pack("<Q", pf & (vu.PF_CONFIG | PF_INFLIGHT)))
    c.send(vu.SET_OWNER)
    c.send(vu.SET_FEATURES, struct.pack("<Q", feats & (vu.F_VERSION_1 | vu.F_PROTOCOL_FEATURES)))
    call = os.eventfd(0, os.EFD_NONBLOCK)
    kick = os.eventfd(0, os.EFD_NONBLOCK)
    c.fds += [call, kick]
    # QEMU sets the call fds at init, so that the back end has its queues.
    c.send(vu.SET_VRING_CALL, struct.pack("<Q", 0), fds=[call])
    if inflight is None:
        c.send(GET_INFLIGHT_FD, inflight_payload(0, 1, QSIZE))
        data, fds, _, _ = socket.recv_fds(c.sock, 12 + 24, 1)
        size = struct.unpack_from("<Q", data, 12)[0]
        inflight = (fds[0], size)
    c.send(SET_INFLIGHT_FD, inflight_payload(inflight[1], 1, QSIZE), fds=[inflight[0]])
    c.send(vu.SET_MEM_TABLE, struct.pack("<II", 1, 0) +
           struct.pack("<QQQQ", 0, mem.size, vu.USER_BASE, 0), fds=[mem.fd])
    used_idx = mem.r16(q.used + 2)
    c.send(vu.SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
    c.send(vu.SET_VRING_BASE, struct.pack("<II", 0, used_idx))
    c.send(vu.SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, vu.USER_BASE + q.desc,
                                          vu.USER_BASE + q.used, vu.USER_BASE + q.avail, 0))
    c.send(vu.SET_VRING_KICK, struct.pack("<Q", 0), fds=[kick])
    q.kickfd = kick
    c.send(vu.SET_VRING_CALL, struct.pack("<Q", 0), fds=[call])
    c.send(vu.SET_VRING_ENABLE, struct.pack("<II", 0, 1))
    return c, inflight


def blk_req(mem, q, write, sector, data=None):
    hdr = mem.alloc(16)
    mem.write(hdr, struct.pack("<IIQ", 1 if write else 0, 0, sector))
    buf = mem.alloc(4096, 4096)
    st = mem.alloc(1)
    mem.write(st, b"\xee")
    if write:
        mem.write(buf, data)
    head = q.add([(hdr, 16, False), (buf, 4096, not write), (st, 1, True)], cookie=(st, buf))
    return head


def region_inflight(region):
    return [i for i in range(QSIZE) if region[16 + 16 * i] == 1]


def bad_messages(v):
    print("-- bad inflight messages")
    for what, req, payload in (("GET_INFLIGHT_FD for 1000 queues", GET_INFLIGHT_FD,
                                inflight_payload(0, 1000, QSIZE)),
                               ("SET_INFLIGHT_FD with a mapping too small", SET_INFLIGHT_FD,
                                inflight_payload(1024, 2, QSIZE))):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(os.path.join(SOCKDIR, "vb0"))
        fd = os.memfd_create("bad-inflight", 0)
        os.ftruncate(fd, 4096)
        hdr = struct.pack("<III", req, 1, len(payload))
        socket.send_fds(s, [hdr + payload], [fd] if req == SET_INFLIGHT_FD else [])
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


def body():
    restart_round(None)
    restart_round("0x1")


def restart_round(cpumask):
    if cpumask:
        print("== again with cpumask %s (the queue on a poll group thread of its own)" % cpumask)
    mem = vu.Memory(32 << 20)
    q = vu.Queue(mem, 0, 0x1000, QSIZE)
    v = start_vhost(3000000, cpumask)
    c, inflight = connect(mem, q)
    check(inflight[1] >= 16 + 16 * QSIZE, "GET_INFLIGHT_FD: a region of %d bytes" % inflight[1])
    region = mmap.mmap(inflight[0], inflight[1])
    check(wait_for(lambda: "device started" in tgt_log(v), 10), "device started")

    print("-- three writes held in the delay bdev, then SIGKILL")
    patterns = {}
    heads = []
    for i, sector in enumerate((8, 64, 1024)):
        patterns[sector] = bytes([0x40 + i]) * 4096
        heads.append(blk_req(mem, q, True, sector, patterns[sector]))
    check(wait_for(lambda: requests_seen() >= 3, 5), "vhost popped the three writes")
    check(q.poll() == [], "nothing completed yet")
    # A read behind them completes at once: the used ring is ahead of the oldest
    # request in flight, so re-reading the ring from used->idx could not recover.
    rd = blk_req(mem, q, False, 4096)
    got = q.wait(1, 5)
    check([h for h, _, _ in got] == [rd] and mem.read(got[0][2][0], 1) == b"\x00",
          "a read posted after them completed first (out of order)")
    check(sorted(region_inflight(region)) == sorted(heads),
          "the region shows heads %s in flight: %s" % (sorted(heads), region_inflight(region)))
    v.send_signal(signal.SIGKILL)
    v.wait()
    procs.remove(v)
    c.sock.close()
    check(sorted(region_inflight(region)) == sorted(heads), "still in flight after the kill")

    print("-- restart, reconnect: resubmitted")
    v2 = start_vhost(0, cpumask)
    c2, _ = connect(mem, q, inflight)
    got = q.wait(3, 10)
    check(sorted(h for h, _, _ in got) == sorted(heads),
          "the three writes completed once each after the restart: %s" % [h for h, _, _ in got])
    check(all(ck is not None and mem.read(ck[0], 1) == b"\x00" for _, _, ck in got),
          "with status OK")
    check(wait_for(lambda: "resubmitted" in tgt_log(v2), 2), "vhost logged the resubmission")
    h4 = blk_req(mem, q, True, 2048, b"\x55" * 4096)
    got = q.wait(1, 5)
    check([h for h, _, _ in got] == [h4], "a request posted after the reconnect completes")
    check(region_inflight(region) == [], "nothing left in flight in the region")
    reads = {blk_req(mem, q, False, s): s for s in patterns}
    got = q.wait(3, 5)
    ok = len(got) == 3 and all(ck is not None and mem.read(ck[0], 1) == b"\x00" and
                               mem.read(ck[1], 4096) == patterns[reads[h]] for h, _, ck in got)
    check(ok, "reads return the resubmitted writes' data (the new bdev started empty)")
    extra = q.poll()
    check(extra == [], "no duplicate completion")
    if cpumask is None:
        bad_messages(v2)
    c2.sock.close()
    region.close()
    os.close(inflight[0])
    check(stop_tgt(v2) == 0, "vhost exits 0 on SIGTERM")
    bad = [k for k in SANITIZER if k in tgt_log(v2)]
    check(not bad, "no sanitizer report %s" % bad)


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

#!/usr/bin/env python3
"""A device whose front end starts only some of its queues (vhost-user: a
ring is started once it has its kick fd and is enabled; the device works with
the rings it has). QEMU names every queue of a vhost-user-scsi-pci device at
its init (SET_VRING_CALL for each), and SeaBIOS's virtio-scsi driver then
sets up only the first request queue; rte_vhost 22.11 starts a device only
when every queue named is ready, so without vhost starting it itself the
BIOS waited forever (doc/vhost.md, "Guests with SeaBIOS").

- vhost-user-scsi (4 queues named, only queue 2 set up, all enabled): INQUIRY,
  WRITE(10) then READ(10) on queue 2 complete; GET_VRING_BASE on queue 2 stops
  the device (vhost logs it) and answers the position the device reached;
  then every queue is set up (as the guest's own driver does after the BIOS):
  commands on queues 2 and 3 complete, the device runs with 4 queues;
- the same front end vanishing while only queue 2 runs: vhost stops the
  device (logged), and a new front end is served;
- vhost-user-blk (2 queues named, only queue 0 set up): a read and a write
  complete.
Prints "N passed, N failed".
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osp_e2e import TMP, check, raw_call, run, stop_tgt, tgt_log, wait_for  # noqa: E402
import vhost_user_client as vu  # noqa: E402
import vhost_e2e  # noqa: E402

VSOCK = os.path.join(TMP, "vhost_pq_rpc.sock")
SOCKDIR = vhost_e2e.SOCKDIR
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
F_SCSI = (1 << 1) | (1 << 2)
QSIZE = 32


class Front:
    """QEMU's way: name every queue at init, set up only `started` at start."""

    def __init__(self, name, nq, features):
        self.c = vu.Client.__new__(vu.Client)
        c = self.c
        c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.sock.settimeout(10)
        c.sock.connect(os.path.join(SOCKDIR, name))
        c.mem, c.queues, c.fds = vu.Memory(8 << 20), [], []
        self.mem = c.mem
        feats = c.get_u64(vu.GET_FEATURES)
        pf = c.get_u64(vu.GET_PROTOCOL_FEATURES)
        c.send(vu.SET_PROTOCOL_FEATURES, struct.pack("<Q", pf & (vu.PF_CONFIG | vu.PF_MQ)))
        c.send(vu.SET_OWNER)
        c.send(vu.SET_FEATURES, struct.pack("<Q", feats & (vu.F_VERSION_1 | vu.F_PROTOCOL_FEATURES |
                                                            features)))
        self.calls = []
        for i in range(nq):
            call = os.eventfd(0, os.EFD_NONBLOCK)
            self.calls.append(call)
            c.fds.append(call)
            c.send(vu.SET_VRING_CALL, struct.pack("<Q", i), fds=[call])
        c.send(vu.SET_MEM_TABLE, struct.pack("<II", 1, 0) +
               struct.pack("<QQQQ", 0, c.mem.size, vu.USER_BASE, 0), fds=[c.mem.fd])
        self.nq = nq
        self.q = {}
        self.base = 0x1000

    def start(self, started):
        c = self.c
        for i in started:
            q = vu.Queue(self.mem, i, self.base, QSIZE)
            self.base = (q.end + 0xfff) & ~0xfff
            self.q[i] = q
            kick = os.eventfd(0, os.EFD_NONBLOCK)
            c.fds.append(kick)
            c.send(vu.SET_VRING_NUM, struct.pack("<II", i, QSIZE))
            c.send(vu.SET_VRING_BASE, struct.pack("<II", i, 0))
            c.send(vu.SET_VRING_ADDR, struct.pack("<IIQQQQ", i, 0, vu.USER_BASE + q.desc,
                                                  vu.USER_BASE + q.used, vu.USER_BASE + q.avail, 0))
            c.send(vu.SET_VRING_KICK, struct.pack("<Q", i), fds=[kick])
            q.kickfd = kick
            c.send(vu.SET_VRING_CALL, struct.pack("<Q", i), fds=[self.calls[i]])
        # QEMU enables every queue, set up or not.
        for i in range(self.nq):
            c.send(vu.SET_VRING_ENABLE, struct.pack("<II", i, 1))

    def get_base(self, i):
        self.c.send(vu.GET_VRING_BASE, struct.pack("<II", i, 0))
        _, p = self.c.recv()
        return struct.unpack("<II", p[:8])

    def close(self):
        self.c.close()


def scsi_cmd(f, qi, cdb, out=b"", in_len=0):
    mem, q = f.mem, f.q[qi]
    hdr = mem.alloc(51)
    mem.write(hdr, bytes([1, 0, 0x40, 0, 0, 0, 0, 0]) + struct.pack("<QBBB", 5, 0, 0, 0) +
              cdb.ljust(32, b"\0"))
    resp = mem.alloc(108)
    mem.write(resp, b"\xee" * 108)
    bufs = [(hdr, 51, False)]
    if out:
        oa = mem.alloc(len(out))
        mem.write(oa, out)
        bufs.append((oa, len(out), False))
    bufs.append((resp, 108, True))
    ia = mem.alloc(max(in_len, 1))
    if in_len:
        bufs.append((ia, in_len, True))
    q.add(bufs, (resp, ia))
    got = q.wait(1, 5)
    if not got:
        return None, b""
    resp, ia = got[0][2]
    return mem.read(resp + 10, 2), mem.read(ia, in_len)


def good(f, qi, cdb, **kw):
    """The command until GOOD (a unit attention first is normal)."""
    for _ in range(3):
        st, data = scsi_cmd(f, qi, cdb, **kw)
        if st == b"\x00\x00":
            return True, data
    return False, b""


def scsi_part(v):
    print("-- vhost-user-scsi: 4 queues named, only queue 2 set up")
    f = Front("vs0", 4, F_SCSI)
    f.start([2])
    ok, data = good(f, 2, bytes([0x12, 0, 0, 0, 96, 0]), in_len=96)
    check(ok and data[8:16] == b"OSPREY  ", "INQUIRY on queue 2 completes: %r" % data[8:16])
    check(wait_for(lambda: "device started with the 1 queue(s) its front end set up of the 4 it named" in tgt_log(v), 3),
          "vhost started the device itself (logged)")
    pat = bytes(range(256)) * 16
    ok, _ = good(f, 2, struct.pack(">BBIBHB", 0x2a, 0, 16, 0, 8, 0), out=pat)
    check(ok, "WRITE(10) 4 KiB: GOOD")
    ok, data = good(f, 2, struct.pack(">BBIBHB", 0x28, 0, 16, 0, 8, 0), in_len=4096)
    check(ok and data == pat, "READ(10) returns it")
    used = f.q[2].used_seen
    idx, num = f.get_base(2)
    check(idx == 2 and num == used, "GET_VRING_BASE of queue 2: %d (the ring's used index %d)" %
          (num, used))
    check(wait_for(lambda: "device stopping" in tgt_log(v), 5), "the device stopped (logged)")

    print("-- then every queue set up (the guest's own driver)")
    f.q, f.base = {}, 0x1000
    f.start([0, 1, 2, 3])
    ok, data = good(f, 2, struct.pack(">BBIBHB", 0x28, 0, 16, 0, 8, 0), in_len=4096)
    check(ok and data == pat, "READ(10) on queue 2")
    ok, data = good(f, 3, struct.pack(">BBIBHB", 0x28, 0, 16, 0, 8, 0), in_len=4096)
    check(ok and data == pat, "READ(10) on queue 3")
    r = raw_call("vhost_get_controllers", {"name": "vs0"}, sock=VSOCK)["result"][0]
    check(r.get("queues") == 4, "the device runs 4 queues: %s" % r.get("queues"))
    f.close()
    check(wait_for(lambda: tgt_log(v).count("device stopping") >= 2, 5), "disconnect: stopped")

    print("-- a front end vanishing while only queue 2 runs")
    n0 = tgt_log(v).count("device stopping")
    f = Front("vs0", 4, F_SCSI)
    f.start([2])
    ok, _ = good(f, 2, bytes([0, 0, 0, 0, 0, 0]))
    check(ok, "TEST UNIT READY on queue 2")
    f.close()
    check(wait_for(lambda: tgt_log(v).count("device stopping") > n0, 5),
          "vhost stopped the device it started itself")
    f = Front("vs0", 4, F_SCSI)
    f.start([2])
    ok, _ = good(f, 2, bytes([0, 0, 0, 0, 0, 0]))
    check(ok, "a new front end is served")
    f.close()


def blk_part(v):
    print("-- vhost-user-blk: 2 queues named, only queue 0 set up")
    f = Front("vb0", 2, 0)
    f.start([0])
    mem, q = f.mem, f.q[0]
    for write in (True, False):
        hdr = mem.alloc(16)
        mem.write(hdr, struct.pack("<IIQ", 1 if write else 0, 0, 8))
        buf = mem.alloc(4096, 4096)
        if write:
            mem.write(buf, b"\x5a" * 4096)
        st = mem.alloc(1)
        mem.write(st, b"\xee")
        q.add([(hdr, 16, False), (buf, 4096, not write), (st, 1, True)], (st, buf))
        got = q.wait(1, 5)
        check(len(got) == 1 and mem.read(st, 1) == b"\x00" and mem.read(buf, 4096) == b"\x5a" * 4096,
              "%s on queue 0: OK" % ("write" if write else "read"))
    f.close()


def body():
    v = vhost_e2e.start_vhost("vhost_pq", sock=VSOCK)
    for m, prm in (("bdev_malloc_create", {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}),
                   ("bdev_malloc_create", {"name": "Malloc1", "num_blocks": 16384, "block_size": 512}),
                   ("vhost_create_scsi_controller", {"ctrlr": "vs0"}),
                   ("vhost_scsi_controller_add_target", {"ctrlr": "vs0", "scsi_target_num": 0,
                                                         "bdev_name": "Malloc0"}),
                   ("vhost_create_blk_controller", {"ctrlr": "vb0", "dev_name": "Malloc1"})):
        r = raw_call(m, prm, sock=VSOCK)
        if "error" in r:
            raise RuntimeError("%s: %s" % (m, r))
    scsi_part(v)
    blk_part(v)
    time.sleep(0.2)
    check(v.poll() is None, "vhost still running")
    check(stop_tgt(v) == 0, "vhost exits 0 on SIGTERM")
    bad = [k for k in SANITIZER if k in tgt_log(v)]
    check(not bad, "no sanitizer report %s" % bad)


if __name__ == "__main__":
    t0 = time.time()
    rc = run(body)
    print("(%.1f s)" % (time.time() - t0))
    sys.exit(rc)

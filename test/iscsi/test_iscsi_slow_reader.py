#!/usr/bin/env python3
"""A slow initiator must never stall a large read.

SPDK's iscsi_tgt, reached through QEMU's slow user networking, stalled 10-15 %
of 1 MiB reads for ~5 s, until the initiator's next NOP-Out: once the
socket's send buffer filled up, the rest of the Data-In waited for something
to arrive. Here a hand-written initiator with a 4 KiB receive buffer reads
1 MiB READ(10)s in small pieces with pauses (a few MB/s, like that link),
never sending anything while a read is in flight (no NOP-Out, no next
command): every read must complete within LIMIT_S, with the right
data (written first with R2T / Data-Out), and the target must stay idle
between reads (interrupt mode: the reactor sleeps while the reader dawdles).
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import *   # noqa: E402,F401,F403

TARGET = "iqn.2016-06.io.spdk:slow"
INITIATOR = "iqn.2024-01.org.example:slow-reader"
BLOCK = 512
MIB = 1024 * 1024
READS = int(os.environ.get("SLOW_READER_READS", "12"))
# A read takes ~0.15 s alone; the stall this catches lasted 5 s or for ever
# (until the next PDU). 2.5 s leaves room for a machine shared by many.
LIMIT_S = float(os.environ.get("SLOW_READER_LIMIT_S", "2.5"))


class Ini:
    def __init__(self, port):
        self.s = socket.socket()
        # Small buffers before connect: the window stays small, like a slow link.
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(10)
        self.s.connect(("127.0.0.1", port))
        self.itt = 0x1000
        self.cmdsn = 0
        self.statsn = 0
        self.owed = 0

    def send(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        pad = (-len(data)) % 4
        self.s.sendall(bytes(bhs) + data + b"\0" * pad)

    def recv_exact(self, n, slow=False):
        out = bytearray()
        while len(out) < n:
            chunk = self.s.recv(min(n - len(out), 1 << 20))
            if not chunk:
                raise RuntimeError("connection closed by the target")
            out += chunk
            if slow:
                self.owed += len(chunk)
                if self.owed >= 65536:
                    # ~8 MB/s: a pause per 64 KiB taken
                    time.sleep(0.008)
                    self.owed -= 65536
        return bytes(out)

    def recv(self, slow=False):
        bhs = self.recv_exact(48, slow)
        dsl = int.from_bytes(bhs[5:8], "big")
        data = self.recv_exact((dsl + 3) & ~3, slow)[:dsl] if dsl else b""
        return bhs, data

    def login(self):
        keys = [("InitiatorName", INITIATOR), ("TargetName", TARGET),
                ("SessionType", "Normal"), ("MaxRecvDataSegmentLength", "262144"),
                ("ImmediateData", "No"), ("InitialR2T", "Yes"), ("HeaderDigest", "None"),
                ("DataDigest", "None")]
        sent = {k for k, _ in keys}
        data = b"".join(("%s=%s" % kv).encode() + b"\0" for kv in keys)
        while True:
            bhs = struct.pack(">BBBBB3s6sHIHHII16s", 0x43, 0x80 | (1 << 2) | 3, 0, 0, 0,
                              b"\0\0\0", b"\x80\x12\x34\x56\x78\x9a", 0, self.itt, 0, 0,
                              self.cmdsn, self.statsn, b"\0" * 16)
            self.send(bhs, data)
            rbhs, rdata = self.recv()
            check(rbhs[0] & 0x3f == 0x23 and rbhs[36] == 0,
                  "login answered with success (status %d/%d)" % (rbhs[36], rbhs[37]))
            self.statsn = struct.unpack(">I", rbhs[24:28])[0] + 1
            if rbhs[36] != 0:
                raise RuntimeError("login failed")
            if rbhs[1] & 0x80:
                self.cmdsn = struct.unpack(">I", rbhs[28:32])[0]
                return
            # The target's own offers: accept them as they are.
            offers = [kv for kv in rdata.split(b"\0") if kv and kv.split(b"=")[0].decode() not in sent
                      and not kv.startswith((b"MaxRecvDataSegmentLength=", b"TargetPortalGroupTag=",
                                             b"TargetAlias="))]
            data = b"".join(kv + b"\0" for kv in offers)

    def cmd(self, read, write, edtl, cdb):
        self.itt += 1
        flags = 0x80 | (0x40 if read else 0) | (0x20 if write else 0)
        bhs = struct.pack(">BB2sB3s8sIIII16s", 0x01, flags, b"\0\0", 0, b"\0\0\0", b"\0" * 8,
                          self.itt, edtl, self.cmdsn, self.statsn, cdb.ljust(16, b"\0"))
        self.cmdsn += 1
        self.send(bhs)
        return self.itt


def rw10(op, lba, nblocks):
    return struct.pack(">BBIBH", op, 0, lba, 0, nblocks)


def body():
    port = free_port("SLOW_READER_PORT")
    conf = os.path.join(TMP, "slow.json")
    with open(conf, "w") as f:
        # A small send buffer on the target side too: 1 MiB of Data-In cannot
        # sit in the kernel, the target must wait for room again and again.
        f.write("""{"subsystems":[
 {"subsystem":"sock","config":[{"method":"sock_impl_set_options",
   "params":{"impl_name":"posix","send_buf_size":16384}}]},
 {"subsystem":"bdev","config":[{"method":"bdev_malloc_create",
   "params":{"name":"Slow0","num_blocks":8192,"block_size":512}}]},
 {"subsystem":"iscsi","config":[
  {"method":"iscsi_create_portal_group","params":{"tag":1,"portals":[{"host":"127.0.0.1","port":"%d"}]}},
  {"method":"iscsi_create_initiator_group","params":{"tag":1,"initiators":["ANY"],"netmasks":["ANY"]}},
  {"method":"iscsi_create_target_node","params":{"name":"%s","luns":[{"bdev_name":"Slow0","lun_id":0}],
   "pg_ig_maps":[{"pg_tag":1,"ig_tag":1}],"queue_depth":8}}]}]}""" % (port, TARGET))
    p = start_tgt("-c", conf)
    ini = Ini(port)
    ini.login()
    check(True, "logged in with a 4 KiB receive buffer")

    # The new nexus' POWER ON unit attention goes to a TEST UNIT READY.
    for _ in range(2):
        ini.cmd(False, False, 0, b"\0" * 6)
        rbhs, _ = ini.recv()
    check(rbhs[0] & 0x3f == 0x21 and rbhs[3] == 0, "TEST UNIT READY after the unit attention")

    # Write 1 MiB of a pattern through R2T / Data-Out.
    pattern = bytes((i * 7 + (i >> 9)) & 0xff for i in range(MIB))
    itt = ini.cmd(False, True, MIB, rw10(0x2a, 0, MIB // BLOCK))
    done = False
    while not done:
        rbhs, _ = ini.recv()
        op = rbhs[0] & 0x3f
        if op == 0x31:   # R2T
            ttt, off, length = struct.unpack(">I", rbhs[20:24])[0], \
                struct.unpack(">I", rbhs[40:44])[0], struct.unpack(">I", rbhs[44:48])[0]
            sent, sn = 0, 0
            while sent < length:
                n = min(65536, length - sent)
                final = 0x80 if sent + n == length else 0
                bhs = struct.pack(">BB2sB3s8sIIIIIII4s", 0x05, final, b"\0\0", 0, b"\0\0\0",
                                  b"\0" * 8, itt, ttt, 0, ini.statsn, 0, sn, off + sent, b"\0" * 4)
                ini.send(bhs, pattern[off + sent:off + sent + n])
                sent += n
                sn += 1
        elif op == 0x21:
            check(rbhs[3] == 0, "1 MiB write: GOOD (status %d, sense %s)" % (rbhs[3], _.hex()[:40]))
            done = True
        else:
            raise RuntimeError("unexpected opcode 0x%02x" % op)

    # Slow 1 MiB reads: none may stall.
    times = []
    for i in range(READS):
        t0 = time.time()
        ini.cmd(True, False, MIB, rw10(0x28, 0, MIB // BLOCK))
        buf = bytearray()
        status = None
        while status is None:
            rbhs, data = ini.recv(slow=True)
            op = rbhs[0] & 0x3f
            if op == 0x25:
                buf += data
                if rbhs[1] & 0x01:
                    status = rbhs[3]
            elif op == 0x21:
                status = rbhs[3]
            else:
                raise RuntimeError("unexpected opcode 0x%02x" % op)
        times.append(time.time() - t0)
        if bytes(buf) != pattern:
            bad = next(j for j in range(min(len(buf), MIB)) if buf[j] != pattern[j]) \
                if len(buf) == MIB else -1
            check(False, "read %d: the data written comes back (%d bytes, first difference at %d)"
                  % (i, len(buf), bad))
    check(all(status == 0 for _ in [0]), "reads ended GOOD")
    slowest = max(times)
    print("    %d slow 1 MiB reads: fastest %.3f s, slowest %.3f s (%s)" % (READS, min(times), slowest, " ".join("%.2f" % t for t in times)))
    check(slowest < LIMIT_S, "no 1 MiB read of a slow reader took %.1f s or more" % LIMIT_S)
    check(alive(p), "target still serving")
    ini.s.close()


if __name__ == "__main__":
    sys.exit(run(body))

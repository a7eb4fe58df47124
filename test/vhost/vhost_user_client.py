"""A small vhost-user front end for tests (standard library only): it plays
the part QEMU plays for a guest. Guest memory is one memfd shared with the
back end (SET_MEM_TABLE); split virtqueues (Queue) or packed ones
(PackedQueue) are laid out in it by hand and driven by polling the used
entries (no EVENT_IDX, interrupts suppressed). Written from the vhost-user
specification (QEMU docs/interop/vhost-user) and virtio 1.x sections 2.7, 2.8.
"""

import mmap
import os
import socket
import struct
import time

# vhost-user requests
GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
SET_MEM_TABLE = 5
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
SET_VRING_ENABLE = 18
GET_CONFIG = 24

F_PROTOCOL_FEATURES = 1 << 30
F_VERSION_1 = 1 << 32
PF_CONFIG = 1 << 9
PF_MQ = 1 << 0

VRING_DESC_F_NEXT = 1
VRING_DESC_F_WRITE = 2
VRING_AVAIL_F_NO_INTERRUPT = 1

# The guest's "physical" addresses are offsets in the memfd; QEMU's user
# addresses are those plus USER_BASE (any value: the back end translates).
USER_BASE = 0x7f0000000000


class _Ring:
    """What split and packed queues share: waiting for completions."""

    def wait(self, count=1, timeout=5.0):
        got = []
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            got += self.poll()
            if len(got) < count:
                time.sleep(0.001)
        return got


class Queue(_Ring):
    """A split ring of size n at guest address base (desc, avail, used)."""

    def __init__(self, mem, index, base, n=64):
        self.mem, self.index, self.n = mem, index, n
        self.desc = base
        self.avail = base + 16 * n
        self.used = (self.avail + 6 + 2 * n + 3) & ~3
        self.end = self.used + 6 + 8 * n
        self.avail_idx = 0
        self.used_seen = 0
        self.free = list(range(n))
        self.pending = {}   # head -> (descs, cookie)
        self.kickfd = None  # set once SET_VRING_KICK gave the back end its eventfd
        mem.buf[self.desc:self.end] = bytes(self.end - self.desc)
        mem.w16(self.avail, VRING_AVAIL_F_NO_INTERRUPT)

    def add(self, bufs, cookie=None):
        """bufs: [(guest addr, len, writable)]; returns the head index."""
        ids = [self.free.pop(0) for _ in bufs]
        for i, (addr, ln, wr) in enumerate(bufs):
            flags = (VRING_DESC_F_WRITE if wr else 0) | (VRING_DESC_F_NEXT if i + 1 < len(bufs) else 0)
            nxt = ids[i + 1] if i + 1 < len(bufs) else 0
            struct.pack_into("<QIHH", self.mem.buf, self.desc + 16 * ids[i], addr, ln, flags, nxt)
        head = ids[0]
        self.pending[head] = (ids, cookie)
        self.mem.w16(self.avail + 4 + 2 * (self.avail_idx % self.n), head)
        self.avail_idx = (self.avail_idx + 1) & 0xffff
        self.mem.w16(self.avail + 2, self.avail_idx)
        # A back end may sleep between requests (interrupt mode): kick every
        # time (no EVENT_IDX here; a kick it did not need is harmless).
        if self.kickfd is not None:
            os.eventfd_write(self.kickfd, 1)
        return head

    def poll(self):
        """Used entries not yet seen: [(head, len, cookie)]."""
        out = []
        used_idx = self.mem.r16(self.used + 2)
        while self.used_seen != used_idx:
            slot = self.used + 4 + 8 * (self.used_seen % self.n)
            head, ln = struct.unpack_from("<II", self.mem.buf, slot)
            ids, cookie = self.pending.pop(head, ([head], None))
            self.free.extend(ids)
            out.append((head, ln, cookie))
            self.used_seen = (self.used_seen + 1) & 0xffff
        return out



VRING_DESC_F_AVAIL = 1 << 7
VRING_DESC_F_USED = 1 << 15
RING_EVENT_FLAGS_DISABLE = 1
F_RING_PACKED = 1 << 34


class PackedQueue(_Ring):
    """A packed ring (virtio 1.x 2.8) of size n at guest address base: the
    descriptor ring, then the driver and device event areas (4 bytes each).
    Same interface as Queue; buffer IDs play the part of heads. The driver's
    used-buffer notifications are disabled (we poll)."""

    packed = True

    def __init__(self, mem, index, base, n=64):
        self.mem, self.index, self.n = mem, index, n
        self.desc = base
        self.driver_event = base + 16 * n
        self.device_event = self.driver_event + 4
        self.end = self.device_event + 4
        # What SET_VRING_ADDR names: desc, "used" = device area, "avail" = driver area.
        self.avail, self.used = self.driver_event, self.device_event
        self.avail_pos, self.avail_wrap = 0, 1
        self.used_pos, self.used_wrap = 0, 1
        self.ids = list(range(n))
        self.pending = {}   # buffer id -> (ndescs, cookie)
        self.kickfd = None
        mem.buf[self.desc:self.end] = bytes(self.end - self.desc)
        mem.w16(self.driver_event + 2, RING_EVENT_FLAGS_DISABLE)

    def base(self):
        """The vring base as QEMU sends it for a packed ring (SET_VRING_BASE)."""
        return self.avail_pos | (self.avail_wrap << 15) | \
            ((self.used_pos | (self.used_wrap << 15)) << 16)

    def add(self, bufs, cookie=None):
        """bufs: [(guest addr, len, writable)]; returns the buffer ID."""
        bid = self.ids.pop(0)
        head, head_flags = self.avail_pos, 0
        for i, (addr, ln, wr) in enumerate(bufs):
            flags = (VRING_DESC_F_WRITE if wr else 0) | (VRING_DESC_F_NEXT if i + 1 < len(bufs) else 0)
            flags |= VRING_DESC_F_AVAIL if self.avail_wrap else VRING_DESC_F_USED
            slot = self.desc + 16 * self.avail_pos
            struct.pack_into("<QIH", self.mem.buf, slot, addr, ln, bid)
            if i == 0:
                head_flags = flags
            else:
                self.mem.w16(slot + 14, flags)
            self.avail_pos += 1
            if self.avail_pos == self.n:
                self.avail_pos, self.avail_wrap = 0, self.avail_wrap ^ 1
        # The head's flags last: the device sees the whole chain at once.
        self.mem.w16(self.desc + 16 * head + 14, head_flags)
        self.pending[bid] = (len(bufs), cookie)
        if self.kickfd is not None:
            os.eventfd_write(self.kickfd, 1)
        return bid

    def poll(self):
        out = []
        while True:
            slot = self.desc + 16 * self.used_pos
            flags = self.mem.r16(slot + 14)
            a, u = bool(flags & VRING_DESC_F_AVAIL), bool(flags & VRING_DESC_F_USED)
            if a != u or u != bool(self.used_wrap):
                return out
            ln, bid = struct.unpack_from("<IH", self.mem.buf, slot + 8)
            ndescs, cookie = self.pending.pop(bid, (1, None))
            self.ids.append(bid)
            out.append((bid, ln, cookie))
            self.used_pos += ndescs
            if self.used_pos >= self.n:
                self.used_pos, self.used_wrap = self.used_pos - self.n, self.used_wrap ^ 1



def recv_message(sock):
    """One vhost-user message as a back end reads it: (request, flags, payload, fds),
    or None when the peer closed the connection (test back ends use it)."""
    hdr, anc, _, _ = sock.recvmsg(12, socket.CMSG_SPACE(8 * 4))
    if len(hdr) < 12:
        return None
    fds = []
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds += list(struct.unpack("<%di" % (len(data) // 4), data[:len(data) // 4 * 4]))
    req, flags, size = struct.unpack("<III", hdr)
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            return None
        body += chunk
    return req, flags, body, fds


class Memory:
    def __init__(self, size):
        self.size = size
        self.fd = os.memfd_create("vhost-test-guest", 0)
        os.ftruncate(self.fd, size)
        self.buf = mmap.mmap(self.fd, size)
        self.top = 0x100000     # rings below, buffers above
        self.low = 0x100000     # where alloc() wraps to (above what is reserve()d)
        # 16-bit ring fields are stored through this view: one 2-byte store.
        # struct.pack_into zero-fills its target before packing, so a back end
        # polling the avail index could read a transient 0 (a ring "more than
        # its size ahead": broken, by the virtio rules).
        self.u16 = memoryview(self.buf).cast("H")

    def alloc(self, n, align=64):
        self.top = (self.top + align - 1) & ~(align - 1)
        addr = self.top
        self.top += n
        if self.top > self.size:
            self.top = self.low
            addr = self.top
            self.top += n
        return addr

    def reserve(self, n):
        """n bytes that alloc() never hands out again (long-lived buffers, such as
        eventq buffers a back end holds for minutes while alloc() wraps)."""
        self.top = (self.top + 63) & ~63
        if self.top != self.low:
            raise RuntimeError("reserve() before any alloc()")
        addr = self.top
        self.top += n
        self.low = self.top
        return addr

    def w16(self, a, v):
        assert a % 2 == 0
        self.u16[a // 2] = v

    def r16(self, a):
        return struct.unpack_from("<H", self.buf, a)[0]

    def write(self, a, data):
        self.buf[a:a + len(data)] = data

    def read(self, a, n):
        return bytes(self.buf[a:a + n])


class Client:
    """Connects, negotiates features, and starts nq queues."""

    def __init__(self, path, mem_size=32 << 20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.mem = Memory(mem_size)
        self.queues = []
        self.fds = []

    def send(self, req, payload=b"", fds=(), need_reply=False):
        hdr = struct.pack("<III", req, 0x1 | (0x8 if need_reply else 0), len(payload))
        if fds:
            socket.send_fds(self.sock, [hdr + payload], list(fds))
        else:
            self.sock.sendall(hdr + payload)

    def recv(self):
        hdr = self._recvn(12)
        req, flags, size = struct.unpack("<III", hdr)
        return req, self._recvn(size) if size else b""

    def _recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise ConnectionError("back end closed the connection")
            b += c
        return b

    def get_u64(self, req):
        self.send(req)
        r, p = self.recv()
        return struct.unpack("<Q", p[:8])[0]

    def get_config(self, size, offset=0):
        self.send(GET_CONFIG, struct.pack("<III", offset, size, 0) + bytes(size))
        r, p = self.recv()
        return p[12:] if len(p) >= 12 else b""

    def start(self, want_features, nq, qsize=64):
        self.features = self.get_u64(GET_FEATURES)
        feats = self.features & (want_features | F_VERSION_1 | F_PROTOCOL_FEATURES)
        pf = 0
        if self.features & F_PROTOCOL_FEATURES:
            pf = self.get_u64(GET_PROTOCOL_FEATURES) & (PF_CONFIG | PF_MQ)
        self.send(SET_FEATURES, struct.pack("<Q", feats))
        if self.features & F_PROTOCOL_FEATURES:
            self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", pf))
        self.negotiated = feats
        self.send(SET_OWNER)
        self.send(SET_MEM_TABLE, struct.pack("<II", 1, 0) +
                  struct.pack("<QQQQ", 0, self.mem.size, USER_BASE, 0), fds=[self.mem.fd])
        base = 0x1000
        for i in range(nq):
            q = Queue(self.mem, i, base, qsize)
            base = (q.end + 0xfff) & ~0xfff
            self.queues.append(q)
            kick = os.eventfd(0, os.EFD_NONBLOCK)
            call = os.eventfd(0, os.EFD_NONBLOCK)
            self.fds += [kick, call]
            self.send(SET_VRING_NUM, struct.pack("<II", i, qsize))
            self.send(SET_VRING_BASE, struct.pack("<II", i, 0))
            self.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", i, 0, USER_BASE + q.desc,
                                                  USER_BASE + q.used, USER_BASE + q.avail, 0))
            self.send(SET_VRING_KICK, struct.pack("<Q", i), fds=[kick])
            q.kickfd = kick
            self.send(SET_VRING_CALL, struct.pack("<Q", i), fds=[call])
            if self.features & F_PROTOCOL_FEATURES:
                self.send(SET_VRING_ENABLE, struct.pack("<II", i, 1))
        assert self.mem.top <= 0x100000 and base <= 0x100000, "rings overflow their area"

    def close(self):
        try:
            self.sock.close()
        finally:
            for fd in self.fds:
                os.close(fd)
            self.fds = []
            self.mem.u16.release()
            self.mem.buf.close()
            os.close(self.mem.fd)

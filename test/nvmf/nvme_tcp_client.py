#!/usr/bin/env python3
"""A small NVMe/TCP host in pure Python (standard library only), written from
the NVM Express TCP Transport Specification 1.0 ("TCP"), NVMe over Fabrics
(Fabrics commands in the NVMe Base Specification 2.0, "Base") and the NVM
Command Set Specification. Meant for black-box tests of a target: every
field can be set by hand, raw bytes can be sent, and everything received is
checked (header/data digests, HLEN/PLEN/PDO) and reported, not trusted.

    c = Conn("127.0.0.1", 4420, hdgst=True, ddgst=True)
    c.icreq()                                  # ICReq -> ICResp
    cpl = c.connect(SUBNQN, HOSTNQN, qid=0)    # Fabrics Connect (admin)
    c.prop_set(CC, 0x460001); c.prop_get(CSTS)
    cpl = c.identify(1)                        # cpl.data = 4096 bytes
    io = Conn(...); io.icreq(); io.connect(SUBNQN, HOSTNQN, qid=1, cntlid=...)
    io.write(1, slba, data); io.read(1, slba, nblocks, bs)

Self check: python3 nvme_tcp_client.py  (CRC32C vectors, PDU encodings).
"""

import os
import socket
import struct
import time

# ---------------------------------------------------------------- CRC32C

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli, reflected, init ~0, final xor ~0); chainable."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def digest(data):
    """The 4 wire bytes of a TCP header/data digest (CRC32C, little-endian)."""
    return struct.pack("<I", crc32c(data))


# ---------------------------------------------------------------- constants

# PDU types (TCP "PDU Type")
ICREQ, ICRESP, H2C_TERM, C2H_TERM, CAPSULE_CMD, CAPSULE_RESP, H2C_DATA, C2H_DATA, R2T = \
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09
HLEN = {ICREQ: 128, ICRESP: 128, H2C_TERM: 24, C2H_TERM: 24, CAPSULE_CMD: 72,
        CAPSULE_RESP: 24, H2C_DATA: 24, C2H_DATA: 24, R2T: 24}
PDU_NAMES = {ICREQ: "ICReq", ICRESP: "ICResp", H2C_TERM: "H2CTermReq",
             C2H_TERM: "C2HTermReq", CAPSULE_CMD: "CapsuleCmd", CAPSULE_RESP: "CapsuleResp",
             H2C_DATA: "H2CData", C2H_DATA: "C2HData", R2T: "R2T"}
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 0x01, 0x02, 0x04, 0x08

# TermReq FES
FES_INVALID_HEADER_FIELD = 0x01
FES_PDU_SEQUENCE = 0x02
FES_HDGST = 0x03
FES_OUT_OF_RANGE = 0x04
FES_LIMIT_EXCEEDED = 0x05
FES_UNSUPPORTED_PARAM = 0x06

# Opcodes
OPC_FABRICS = 0x7F
FCT_PROP_SET, FCT_CONNECT, FCT_PROP_GET, FCT_DISCONNECT = 0x00, 0x01, 0x04, 0x08
ADM_GET_LOG, ADM_IDENTIFY, ADM_ABORT, ADM_SET_FEAT, ADM_GET_FEAT, ADM_AER, ADM_KEEP_ALIVE = \
    0x02, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x18
IO_FLUSH, IO_WRITE, IO_READ, IO_COMPARE, IO_WRITE_ZEROES, IO_DSM = 0x00, 0x01, 0x02, 0x05, 0x08, 0x09

# Property offsets
CAP, VS, CC, CSTS = 0x00, 0x08, 0x14, 0x1C

DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"

# SGL descriptor identifier byte (type << 4 | subtype)
SGL_DATA_BLOCK_OFFSET = 0x01     # Data Block, subtype Offset: in-capsule data
SGL_TRANSPORT_DATA_BLOCK = 0x5A  # Transport SGL Data Block, subtype Transport specific


def status_str(sct, sc):
    return "SCT %xh SC %02xh" % (sct, sc)


class ProtoError(Exception):
    """Something received that is not a valid PDU (or the connection ended)."""


class TermReq(ProtoError):
    def __init__(self, fes, fei, err_data, raw):
        self.fes, self.fei, self.err_data, self.raw = fes, fei, err_data, raw
        ProtoError.__init__(self, "C2HTermReq FES %02xh FEI %d (err data %s)" %
                            (fes, fei, err_data[:24].hex()))


class Closed(ProtoError):
    pass


class Pdu:
    """A received PDU: type, flags, hlen, pdo, plen, hdr (hlen bytes), data."""

    def __init__(self, ptype, flags, hlen, pdo, plen, hdr, data):
        self.type, self.flags, self.hlen, self.pdo, self.plen = ptype, flags, hlen, pdo, plen
        self.hdr, self.data = hdr, data

    def __repr__(self):
        return "<%s flags %02x hlen %d pdo %d plen %d hdr %s>" % (
            PDU_NAMES.get(self.type, "type %02x" % self.type), self.flags, self.hlen,
            self.pdo, self.plen, self.hdr[:24].hex())


class Cpl:
    """A completion queue entry (Base Figure "Completion Queue Entry")."""

    def __init__(self, raw, data=b""):
        self.raw = raw
        self.cdw0, self.cdw1, self.sqhd, self.sqid, self.cid, st = \
            struct.unpack("<IIHHHH", raw)
        self.status = st
        self.sc = (st >> 1) & 0xFF
        self.sct = (st >> 9) & 0x7
        self.crd = (st >> 12) & 0x3
        self.more = (st >> 14) & 1
        self.dnr = (st >> 15) & 1
        self.data = data
        self.c2h_success = False   # completed by a C2HData SUCCESS flag

    @property
    def ok(self):
        return self.sct == 0 and self.sc == 0

    def is_(self, sct, sc):
        return self.sct == sct and self.sc == sc

    def __repr__(self):
        return "<cpl cid %d %s dnr %d cdw0 %08x cdw1 %08x sqhd %d>" % (
            self.cid, status_str(self.sct, self.sc), self.dnr, self.cdw0, self.cdw1, self.sqhd)


# ---------------------------------------------------------------- encoders

def sqe(opc, cid=0, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0,
        fuse=0, psdt=1, sgl_addr=0, sgl_len=0, sgl_id=SGL_TRANSPORT_DATA_BLOCK, cdw2=0, cdw3=0):
    """A 64-byte SQE with an SGL data descriptor in DPTR (Fabrics: PSDT 01b)."""
    flags = (fuse & 3) | ((psdt & 3) << 6)
    sgl = struct.pack("<QI3xB", sgl_addr, sgl_len, sgl_id)
    return struct.pack("<BBHIIIQ", opc, flags, cid, nsid, cdw2, cdw3, 0) + sgl + \
        struct.pack("<6I", cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)


def fabrics_sqe(fctype, cid=0, specific=b"", sgl_len=0, sgl_id=SGL_TRANSPORT_DATA_BLOCK):
    """A Fabrics command: bytes 0-3 as an SQE, FCTYPE at 4, SGL1 at 24, 40..63 specific."""
    head = struct.pack("<BBHB", OPC_FABRICS, 0x40, cid, fctype) + bytes(19)
    sgl = struct.pack("<QI3xB", 0, sgl_len, sgl_id)
    spec = specific + bytes(24 - len(specific))
    return head + sgl + spec


def connect_sqe(cid, qid, sqsize, kato=0, cattr=0, recfmt=0):
    spec = struct.pack("<HHHBBI", recfmt, qid, sqsize, cattr, 0, kato)
    return fabrics_sqe(FCT_CONNECT, cid, spec, sgl_len=1024, sgl_id=SGL_DATA_BLOCK_OFFSET)


def connect_data(subnqn, hostnqn, cntlid=0xFFFF, hostid=None):
    hostid = hostid if hostid is not None else bytes(range(1, 17))
    d = bytearray(1024)
    d[0:16] = hostid
    struct.pack_into("<H", d, 16, cntlid)
    s, h = subnqn.encode()[:255], hostnqn.encode()[:255]   # keep a NUL in each field
    d[256:256 + len(s)] = s
    d[512:512 + len(h)] = h
    return bytes(d)


def pdu_bytes(ptype, flags, hdr_rest, data=b"", hdgst=False, ddgst=False, pda=0,
              hlen=None, pdo=None, plen=None, bad_hdgst=False, bad_ddgst=False):
    """Encode a PDU. hdr_rest is the header after the 8-byte common header.
    Digest flags are set from hdgst/ddgst; hlen/pdo/plen override the computed
    values (to build broken PDUs), as do bad_hdgst/bad_ddgst."""
    h = hlen if hlen is not None else 8 + len(hdr_rest)
    if hdgst:
        flags |= F_HDGST
    if ddgst and data:
        flags |= F_DDGST
    hd_len = h + (4 if hdgst else 0)
    if data:
        align = (pda + 1) * 4
        calc_pdo = (hd_len + align - 1) // align * align
    else:
        calc_pdo = 0
    o = pdo if pdo is not None else calc_pdo
    pad = (calc_pdo - hd_len) if data else 0
    total = hd_len + pad + len(data) + (4 if (ddgst and data) else 0)
    p = plen if plen is not None else total
    header = struct.pack("<BBBBI", ptype, flags, h & 0xFF, o & 0xFF, p & 0xFFFFFFFF) + hdr_rest
    out = header
    if hdgst:
        d = digest(header)
        if bad_hdgst:
            d = bytes([d[0] ^ 0xFF]) + d[1:]
        out += d
    if data:
        out += bytes(pad) + data
        if ddgst:
            d = digest(data)
            if bad_ddgst:
                d = bytes([d[0] ^ 0xFF]) + d[1:]
            out += d
    return out


def icreq_bytes(pfv=0, hpda=0, dgst=0, maxr2t=0, plen=128, hlen=128):
    rest = struct.pack("<HBBI", pfv, hpda, dgst, maxr2t) + bytes(112)
    return struct.pack("<BBBBI", ICREQ, 0, hlen, 0, plen) + rest


def h2c_data_hdr(cccid, ttag, datao, datal):
    return struct.pack("<HHII4x", cccid, ttag, datao, datal)


# ---------------------------------------------------------------- connection

class Conn:
    """One NVMe/TCP connection (one queue pair) to a target."""

    def __init__(self, addr="127.0.0.1", port=4420, hdgst=False, ddgst=False, hpda=0,
                 timeout=5.0):
        self.addr, self.port = addr, port
        self.want_hdgst, self.want_ddgst, self.hpda = hdgst, ddgst, hpda
        self.hdgst = self.ddgst = False
        self.cpda = 0
        self.maxh2cdata = 0
        self.icresp = None
        self.timeout = timeout
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbuf = bytearray()
        self.next_cid = 1
        self.done = {}       # cid -> Cpl not yet collected
        self.pending = {}    # cid -> command state
        self.others = []     # unexpected PDUs kept for inspection
        self.h2c_chunk = None  # bytes per H2CData PDU (default MAXH2CDATA)
        self.c2h_pdus = 0
        self.r2ts = 0
        self.h2c_pdus = 0
        self.max_icd = 0     # bytes of in-capsule data we send (set after Connect/Identify)
        self.cntlid = None

    # ---- raw I/O

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, b):
        self.sock.sendall(b)

    def _fill(self, n, timeout):
        end = time.time() + timeout
        while len(self.rbuf) < n:
            left = end - time.time()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" %
                                     (n, len(self.rbuf)))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed by the target (have %d of %d bytes)" %
                             (len(self.rbuf), n))
            self.rbuf += chunk

    def _take(self, n):
        b = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return b

    def recv_pdu(self, timeout=None):
        """Read and check one PDU. Raises TermReq for a C2HTermReq, Closed on
        EOF, ProtoError for anything malformed, socket.timeout on silence."""
        timeout = self.timeout if timeout is None else timeout
        self._fill(8, timeout)
        ptype, flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", self.rbuf, 0)
        if ptype == C2H_TERM:
            if hlen != 24 or plen < 24 or plen > 152:
                raise ProtoError("C2HTermReq with hlen %d plen %d" % (hlen, plen))
            self._fill(plen, timeout)
            raw = self._take(plen)
            fes, fei = struct.unpack_from("<HI", raw, 8)
            raise TermReq(fes, fei, raw[24:], raw)
        if ptype not in (ICRESP, CAPSULE_RESP, C2H_DATA, R2T):
            raise ProtoError("target sent PDU type %02xh (not a C2H type): %s" %
                             (ptype, bytes(self.rbuf[:24]).hex()))
        if hlen != HLEN[ptype]:
            raise ProtoError("%s with HLEN %d (spec: %d)" % (PDU_NAMES[ptype], hlen,
                                                           HLEN[ptype]))
        if plen > 16 * 1024 * 1024 or plen < hlen:
            raise ProtoError("%s with PLEN %d" % (PDU_NAMES[ptype], plen))
        hd = ptype not in (ICRESP,) and self.hdgst
        if bool(flags & F_HDGST) != hd:
            raise ProtoError("%s HDGSTF %d but header digest negotiated %d" %
                             (PDU_NAMES[ptype], flags & 1, hd))
        self._fill(plen, timeout)
        raw = self._take(plen)
        hdr = raw[:hlen]
        pos = hlen
        if hd:
            if raw[pos:pos + 4] != digest(hdr):
                raise ProtoError("%s header digest %s, expected %s" %
                                 (PDU_NAMES[ptype], raw[pos:pos + 4].hex(), digest(hdr).hex()))
            pos += 4
        data = b""
        if pdo:
            align = (self.hpda + 1) * 4
            if pdo < pos or pdo % align or pdo > plen:
                raise ProtoError("%s PDO %d (header ends at %d, HPDA alignment %d)" %
                                 (PDU_NAMES[ptype], pdo, pos, align))
            end = plen
            if flags & F_DDGST:
                if not self.ddgst:
                    raise ProtoError("%s DDGSTF without data digest negotiated" %
                                     PDU_NAMES[ptype])
                end -= 4
                data = raw[pdo:end]
                if raw[end:plen] != digest(data):
                    raise ProtoError("%s data digest %s, expected %s" %
                                     (PDU_NAMES[ptype], raw[end:plen].hex(),
                                      digest(data).hex()))
            else:
                if self.ddgst:
                    raise ProtoError("%s with data but no DDGSTF" % PDU_NAMES[ptype])
                data = raw[pdo:end]
        elif plen != pos:
            raise ProtoError("%s PLEN %d but no PDO (header+digest %d)" %
                             (PDU_NAMES[ptype], plen, pos))
        return Pdu(ptype, flags, hlen, pdo, plen, hdr, data)

    def expect_close(self, timeout=3.0):
        """After a fatal error: returns ('term', TermReq) or ('closed', None) or
        ('open', what) if the connection stayed up with no TermReq."""
        end = time.time() + timeout
        try:
            while time.time() < end:
                p = self.recv_pdu(timeout=max(0.05, end - time.time()))
                self.others.append(p)
        except TermReq as t:
            # TCP: the sender of a TermReq closes the connection after it.
            t.closed_after = False
            try:
                while time.time() < end + 2:
                    self._fill(len(self.rbuf) + 1, max(0.05, end + 2 - time.time()))
                    t.after = bytes(self.rbuf)
            except (Closed, ConnectionResetError):
                t.closed_after = True
            except (socket.timeout, OSError):
                pass
            return ("term", t)
        except Closed:
            return ("closed", None)
        except socket.timeout:
            return ("open", "no TermReq and no close within %.1fs" % timeout)
        except ProtoError as e:
            return ("open", "bad PDU: %s" % e)
        except OSError as e:
            return ("closed", None) if "reset" in str(e).lower() else ("open", repr(e))
        return ("open", "still open")

    # ---- IC

    def icreq(self, maxr2t=0):
        dg = (1 if self.want_hdgst else 0) | (2 if self.want_ddgst else 0)
        self.send(icreq_bytes(hpda=self.hpda, dgst=dg, maxr2t=maxr2t))
        p = self.recv_pdu()
        if p.type != ICRESP:
            raise ProtoError("expected ICResp, got %r" % p)
        pfv, cpda, dgst, maxh2c = struct.unpack_from("<HBBI", p.hdr, 8)
        self.icresp = {"pfv": pfv, "cpda": cpda, "dgst": dgst, "maxh2cdata": maxh2c,
                       "plen": p.plen, "hlen": p.hlen, "flags": p.flags, "pdo": p.pdo}
        self.hdgst, self.ddgst = bool(dgst & 1), bool(dgst & 2)
        self.cpda, self.maxh2cdata = cpda, maxh2c
        return self.icresp

    # ---- commands

    def alloc_cid(self):
        cid = self.next_cid
        self.next_cid = (self.next_cid + 1) & 0xFFFF or 1
        return cid

    def capsule_bytes(self, cmd, icd=b"", **kw):
        return pdu_bytes(CAPSULE_CMD, 0, cmd, icd, hdgst=self.hdgst, ddgst=self.ddgst,
                         pda=self.cpda, **kw)

    def submit(self, cmd, data_out=None, read_len=0, icd=None, **kw):
        """Send SQE bytes (CID inside them is used as is). data_out: data for a
        host-to-controller command, sent in capsule when icd is True (default:
        when it fits max_icd), else on R2T. read_len: bytes expected back."""
        cid = struct.unpack_from("<H", cmd, 2)[0]
        data_out = data_out or b""
        self.pending[cid] = {"out": data_out, "in": bytearray(read_len),
                             "got": 0, "r2t_off": 0}
        if icd is None:
            icd = 0 < len(data_out) <= self.max_icd
        self.send(self.capsule_bytes(cmd, data_out if icd else b"", **kw))
        return cid

    def wait(self, cid, timeout=None):
        """Process PDUs until cid completes; returns its Cpl."""
        end = time.time() + (self.timeout if timeout is None else timeout)
        while cid not in self.done:
            left = end - time.time()
            if left <= 0:
                raise socket.timeout("no completion for cid %d" % cid)
            self.process_one(left)
        return self.done.pop(cid)

    def process_one(self, timeout=None):
        p = self.recv_pdu(timeout)
        if p.type == CAPSULE_RESP:
            cpl = Cpl(p.hdr[8:24])
            st = self.pending.pop(cpl.cid, None)
            if st is not None:
                cpl.data = bytes(st["in"][:st["got"]]) if st["in"] else b""
                cpl.data_full = bytes(st["in"])
            self.done[cpl.cid] = cpl
        elif p.type == C2H_DATA:
            self.c2h_pdus += 1
            cccid, datao, datal = struct.unpack_from("<H2xII", p.hdr, 8)
            st = self.pending.get(cccid)
            if st is None:
                raise ProtoError("C2HData for unknown CCCID %d" % cccid)
            if datal != len(p.data):
                raise ProtoError("C2HData DATAL %d but %d data bytes" % (datal, len(p.data)))
            if datao + datal > len(st["in"]):
                raise ProtoError("C2HData DATAO %d DATAL %d beyond the %d-byte buffer" %
                                 (datao, datal, len(st["in"])))
            if datao != st["got"]:
                raise ProtoError("C2HData DATAO %d, expected %d" % (datao, st["got"]))
            st["in"][datao:datao + datal] = p.data
            st["got"] = datao + datal
            if p.flags & F_SUCCESS:
                if not p.flags & F_LAST:
                    raise ProtoError("C2HData SUCCESS without LAST_PDU")
                raw = struct.pack("<IIHHHH", 0, 0, 0, 0, cccid, 0)
                cpl = Cpl(raw, bytes(st["in"][:st["got"]]))
                cpl.c2h_success = True
                self.pending.pop(cccid)
                self.done[cccid] = cpl
        elif p.type == R2T:
            self.r2ts += 1
            cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p.hdr, 8)
            st = self.pending.get(cccid)
            if st is None:
                raise ProtoError("R2T for unknown CCCID %d" % cccid)
            if r2to + r2tl > len(st["out"]) or r2tl == 0:
                raise ProtoError("R2T R2TO %d R2TL %d for %d bytes" %
                                 (r2to, r2tl, len(st["out"])))
            self.send_h2c(cccid, ttag, r2to, st["out"][r2to:r2to + r2tl])
        else:
            self.others.append(p)
        return p

    def send_h2c(self, cccid, ttag, off, data, chunk=None):
        chunk = chunk or self.h2c_chunk or self.maxh2cdata or 4096
        chunk = min(chunk, self.maxh2cdata or chunk)
        pos = 0
        out = b""
        while pos < len(data):
            piece = data[pos:pos + chunk]
            last = F_LAST if pos + len(piece) >= len(data) else 0
            out += pdu_bytes(H2C_DATA, last, h2c_data_hdr(cccid, ttag, off + pos, len(piece)),
                             piece, hdgst=self.hdgst, ddgst=self.ddgst, pda=self.cpda)
            self.h2c_pdus += 1
            pos += len(piece)
        self.send(out)

    def cmd(self, cmd_bytes, data_out=None, read_len=0, icd=None, timeout=None):
        cid = self.submit(cmd_bytes, data_out, read_len, icd)
        return self.wait(cid, timeout)

    # ---- Fabrics

    def connect(self, subnqn, hostnqn, qid=0, sqsize=31, cntlid=0xFFFF, kato=0, hostid=None,
                cattr=0):
        cid = self.alloc_cid()
        data = connect_data(subnqn, hostnqn, cntlid, hostid)
        cpl = self.cmd(connect_sqe(cid, qid, sqsize, kato, cattr), data, icd=True)
        if cpl.ok:
            self.cntlid = cpl.cdw0 & 0xFFFF
            self.qid = qid
            if qid == 0:
                self.max_icd = 8192 - 64
        return cpl

    def prop_get(self, ofst, size8=None):
        size8 = (ofst == CAP) if size8 is None else size8
        spec = struct.pack("<B3xI", 1 if size8 else 0, ofst)
        cpl = self.cmd(fabrics_sqe(FCT_PROP_GET, self.alloc_cid(), spec, sgl_len=0))
        cpl.value = cpl.cdw0 | (cpl.cdw1 << 32)
        return cpl

    def prop_set(self, ofst, value, size8=False):
        spec = struct.pack("<B3xIQ", 1 if size8 else 0, ofst, value)
        return self.cmd(fabrics_sqe(FCT_PROP_SET, self.alloc_cid(), spec, sgl_len=0))

    def enable(self):
        """CC.EN = 1 with IOSQES 6 / IOCQES 4; waits for CSTS.RDY."""
        cpl = self.prop_set(CC, (4 << 20) | (6 << 16) | 1)
        if not cpl.ok:
            return cpl
        end = time.time() + 5
        while time.time() < end:
            c = self.prop_get(CSTS)
            if c.ok and c.cdw0 & 1:
                return cpl
            time.sleep(0.01)
        return cpl

    # ---- admin

    def admin(self, opc, nsid=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0, cdw15=0,
              read_len=0, data_out=None, sgl_len=None, timeout=None):
        n = sgl_len if sgl_len is not None else (read_len or len(data_out or b""))
        icd = bool(data_out) and len(data_out) <= self.max_icd
        sid = SGL_DATA_BLOCK_OFFSET if icd else SGL_TRANSPORT_DATA_BLOCK
        c = sqe(opc, self.alloc_cid(), nsid, cdw10, cdw11, cdw12, cdw13, cdw14, cdw15,
                sgl_len=n, sgl_id=sid)
        return self.cmd(c, data_out, read_len, icd, timeout)

    def identify(self, cns, nsid=0, cntid=0, length=4096):
        return self.admin(ADM_IDENTIFY, nsid, cdw10=(cns & 0xFF) | (cntid << 16),
                          read_len=length)

    def get_log(self, lid, length, offset=0, nsid=0xFFFFFFFF, rae=0, lsp=0, sgl_len=None):
        numd = length // 4 - 1
        cdw10 = lid | (lsp << 8) | (rae << 15) | ((numd & 0xFFFF) << 16)
        return self.admin(ADM_GET_LOG, nsid, cdw10, numd >> 16, offset & 0xFFFFFFFF,
                          offset >> 32, read_len=length, sgl_len=sgl_len)

    def get_features(self, fid, sel=0, cdw11=0, nsid=0, read_len=0):
        return self.admin(ADM_GET_FEAT, nsid, fid | (sel << 8), cdw11, read_len=read_len)

    def set_features(self, fid, cdw11=0, sv=0, nsid=0, data_out=None):
        return self.admin(ADM_SET_FEAT, nsid, fid | (sv << 31), cdw11, data_out=data_out)

    def keep_alive(self):
        return self.admin(ADM_KEEP_ALIVE)

    def submit_aer(self):
        return self.submit(sqe(ADM_AER, self.alloc_cid(), sgl_len=0))

    # ---- NVM I/O

    def io_sqe(self, opc, nsid, slba, nlb, nbytes, icd, fuse=0, cid=None, cdw12_extra=0):
        return sqe(opc, self.alloc_cid() if cid is None else cid, nsid,
                   slba & 0xFFFFFFFF, slba >> 32, ((nlb - 1) & 0xFFFF) | cdw12_extra,
                   fuse=fuse, sgl_len=nbytes,
                   sgl_id=SGL_DATA_BLOCK_OFFSET if icd else SGL_TRANSPORT_DATA_BLOCK)

    def write(self, nsid, slba, data, bs, icd=None, opc=IO_WRITE, fuse=0, timeout=None):
        if icd is None:
            icd = len(data) <= self.max_icd
        c = self.io_sqe(opc, nsid, slba, len(data) // bs, len(data), icd, fuse)
        return self.cmd(c, data, 0, icd, timeout)

    def read(self, nsid, slba, nlb, bs, sgl_len=None, timeout=None):
        n = nlb * bs if sgl_len is None else sgl_len
        c = self.io_sqe(IO_READ, nsid, slba, nlb, n, False)
        return self.cmd(c, None, n, False, timeout)

    def compare(self, nsid, slba, data, bs, icd=None):
        return self.write(nsid, slba, data, bs, icd, opc=IO_COMPARE)

    def write_zeroes(self, nsid, slba, nlb):
        return self.cmd(self.io_sqe(IO_WRITE_ZEROES, nsid, slba, nlb, 0, False))

    def flush(self, nsid):
        return self.cmd(sqe(IO_FLUSH, self.alloc_cid(), nsid))

    def dsm_deallocate(self, nsid, ranges):
        data = b"".join(struct.pack("<IIQ", 0, nlb, slba) for slba, nlb in ranges)
        icd = len(data) <= self.max_icd
        c = sqe(IO_DSM, self.alloc_cid(), nsid, len(ranges) - 1, 1 << 2, sgl_len=len(data),
                sgl_id=SGL_DATA_BLOCK_OFFSET if icd else SGL_TRANSPORT_DATA_BLOCK)
        return self.cmd(c, data, 0, icd)


def open_admin(addr, port, subnqn, hostnqn, hdgst=False, ddgst=False, kato=0, enable=True,
               timeout=5.0):
    """ICReq + Connect (admin) + CC.EN. Returns (conn, connect_cpl)."""
    c = Conn(addr, port, hdgst, ddgst, timeout=timeout)
    c.icreq()
    cpl = c.connect(subnqn, hostnqn, 0, 31, kato=kato)
    if cpl.ok and enable:
        c.enable()
    return c, cpl


def open_io(addr, port, subnqn, hostnqn, cntlid, qid=1, hdgst=False, ddgst=False,
            ioccsz=None, timeout=5.0):
    c = Conn(addr, port, hdgst, ddgst, timeout=timeout)
    c.icreq()
    cpl = c.connect(subnqn, hostnqn, qid, 63, cntlid=cntlid)
    if cpl.ok and ioccsz:
        c.max_icd = ioccsz * 16 - 64
    return c, cpl


# ---------------------------------------------------------------- self check

def _self_check():
    ok = True

    def t(cond, what):
        nonlocal ok
        print(("  ok   " if cond else "  FAIL ") + what)
        ok = ok and cond

    t(crc32c(b"123456789") == 0xE3069283, "crc32c('123456789') == E3069283")
    t(crc32c(b"") == 0, "crc32c('') == 0")
    t(crc32c(bytes(32)) == 0x8A9136AA, "crc32c(32 zero bytes) == 8A9136AA (RFC 3720 B.4)")
    t(crc32c(b"\xff" * 32) == 0x62A8AB43, "crc32c(32 x FF) == 62A8AB43 (RFC 3720 B.4)")
    t(crc32c(bytes(range(32))) == 0x46DD794E, "crc32c(00..1F) == 46DD794E (RFC 3720 B.4)")
    t(crc32c(b"6789", crc32c(b"12345")) == 0xE3069283, "crc32c chains")
    t(digest(b"123456789") == bytes.fromhex("839206e3"), "digest is little-endian on the wire")
    ic = icreq_bytes(hpda=3, dgst=3, maxr2t=7)
    t(len(ic) == 128 and ic[:8] == bytes([0, 0, 128, 0, 128, 0, 0, 0]) and
      ic[8:16] == bytes([0, 0, 3, 3, 7, 0, 0, 0]), "ICReq encoding")
    c = sqe(IO_WRITE, cid=0x1234, nsid=1, cdw10=5, cdw12=7, sgl_len=4096,
            sgl_id=SGL_DATA_BLOCK_OFFSET, fuse=2)
    t(len(c) == 64 and c[0] == 1 and c[1] == 0x42 and c[2:4] == b"\x34\x12" and
      c[24:32] == bytes(8) and c[32:36] == struct.pack("<I", 4096) and c[39] == 0x01 and
      c[40:44] == struct.pack("<I", 5) and c[48:52] == struct.pack("<I", 7), "SQE layout")
    cc = connect_sqe(9, 1, 63, kato=2000, cattr=4)
    t(len(cc) == 64 and cc[0] == 0x7F and cc[4] == 1 and cc[42:44] == b"\x01\x00" and
      cc[44:46] == b"\x3f\x00" and cc[46] == 4 and cc[48:52] == struct.pack("<I", 2000) and
      cc[36:40] == bytes([0, 0, 0, 1]), "Connect SQE layout")
    cd = connect_data("nqn.a", "nqn.b", 0x12)
    t(len(cd) == 1024 and cd[16:18] == b"\x12\x00" and cd[256:261] == b"nqn.a" and
      cd[512:517] == b"nqn.b", "Connect data layout")
    p = pdu_bytes(CAPSULE_CMD, 0, bytes(64), b"x" * 10, hdgst=True, ddgst=True, pda=1)
    # header 72 + hdgst 4 = 76, PDA 1 -> 8-byte alignment -> PDO 80
    t(p[2] == 72 and p[3] == 80 and struct.unpack_from("<I", p, 4)[0] == 80 + 10 + 4 and
      p[1] == 3 and p[72:76] == digest(p[:72]) and p[90:94] == digest(b"x" * 10),
      "CapsuleCmd with digests and PDA 1: HLEN 72, PDO 80, PLEN 94")
    p = pdu_bytes(CAPSULE_CMD, 0, bytes(64))
    t(len(p) == 72 and p[3] == 0 and p[1] == 0, "CapsuleCmd without data: PDO 0, PLEN 72")
    h = pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(3, 4, 8, 4), b"abcd")
    t(h[:8] == bytes([6, 4, 24, 24, 28, 0, 0, 0]) and h[8:20] ==
      struct.pack("<HHII", 3, 4, 8, 4), "H2CData layout")
    st = struct.pack("<IIHHHH", 1, 2, 3, 4, 5, (1 << 15) | (2 << 9) | (0x85 << 1))
    q = Cpl(st)
    t(q.sct == 2 and q.sc == 0x85 and q.dnr == 1 and q.cid == 5, "CQE status decode")
    return ok


if __name__ == "__main__":
    import sys
    sys.exit(0 if _self_check() else 1)

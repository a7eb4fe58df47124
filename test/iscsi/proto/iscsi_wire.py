#!/usr/bin/env python3
"""A small iSCSI initiator written from RFC 7143 (standard library only), for
black-box protocol tests of a target.

It builds and parses every PDU's Basic Header Segment (RFC 7143 §11), the
Additional Header Segments (§11.2.2), CRC32C header/data digests (§13.1,
Appendix B.4 test vectors), text key=value data (§6.1), and drives a
connection: login with or without CHAP / mutual CHAP (§12.1.3, RFC 1994 MD5),
operational negotiation (§13), SCSI commands with immediate data, unsolicited
Data-Out and Data-Out answering R2T (§11.7, §11.8), Data-In with DataSN and
buffer offset checks, NOP-Out/NOP-In, Task Management, Text, Logout.

It checks what the target sends against the RFC as it goes and records any
violation in a list (Conn.violations, Task.errors) rather than raising, so a
test can report each one. Run directly, it checks its own encoders (CRC32C
vectors, PDU round trips) and prints "wire self-test ok".
"""

import hashlib
import os
import select
import socket
import struct
import time

# ---------------------------------------------------------------- opcodes (§11.2.1.2)

OP_NOP_OUT = 0x00
OP_SCSI_CMD = 0x01
OP_TMF_REQ = 0x02
OP_LOGIN_REQ = 0x03
OP_TEXT_REQ = 0x04
OP_DATA_OUT = 0x05
OP_LOGOUT_REQ = 0x06
OP_SNACK_REQ = 0x10
OP_NOP_IN = 0x20
OP_SCSI_RSP = 0x21
OP_TMF_RSP = 0x22
OP_LOGIN_RSP = 0x23
OP_TEXT_RSP = 0x24
OP_DATA_IN = 0x25
OP_LOGOUT_RSP = 0x26
OP_R2T = 0x31
OP_ASYNC = 0x32
OP_REJECT = 0x3F

OP_NAMES = {
    OP_NOP_OUT: "NOP-Out", OP_SCSI_CMD: "SCSI Command", OP_TMF_REQ: "TMF Request",
    OP_LOGIN_REQ: "Login Request", OP_TEXT_REQ: "Text Request", OP_DATA_OUT: "Data-Out",
    OP_LOGOUT_REQ: "Logout Request", OP_SNACK_REQ: "SNACK", OP_NOP_IN: "NOP-In",
    OP_SCSI_RSP: "SCSI Response", OP_TMF_RSP: "TMF Response", OP_LOGIN_RSP: "Login Response",
    OP_TEXT_RSP: "Text Response", OP_DATA_IN: "Data-In", OP_LOGOUT_RSP: "Logout Response",
    OP_R2T: "R2T", OP_ASYNC: "Async Message", OP_REJECT: "Reject",
}

# Reject reasons (§11.17.1)
REJ_DATA_DIGEST = 0x02
REJ_SNACK = 0x03
REJ_PROTOCOL_ERROR = 0x04
REJ_CMD_NOT_SUPPORTED = 0x05
REJ_IMMEDIATE_CMD = 0x06
REJ_TASK_IN_PROGRESS = 0x07
REJ_INVALID_DATA_ACK = 0x08
REJ_INVALID_PDU_FIELD = 0x09
REJ_LONG_OP = 0x0A
REJ_WAITING_LOGOUT = 0x0C

# TMF functions (§11.5.1) and responses (§11.6.1)
TMF_ABORT_TASK = 1
TMF_ABORT_TASK_SET = 2
TMF_CLEAR_ACA = 3
TMF_CLEAR_TASK_SET = 4
TMF_LUN_RESET = 5
TMF_TARGET_WARM_RESET = 6
TMF_TARGET_COLD_RESET = 7
TMF_TASK_REASSIGN = 8
TMF_RSP_COMPLETE = 0
TMF_RSP_NO_TASK = 1
TMF_RSP_NO_LUN = 2
TMF_RSP_STILL_ALLEGIANT = 3
TMF_RSP_REASSIGN_UNSUPPORTED = 4
TMF_RSP_NOT_SUPPORTED = 5
TMF_RSP_AUTH_FAILED = 6
TMF_RSP_REJECTED = 255

# Logout reasons (§11.14.1) and responses (§11.15.1)
LOGOUT_CLOSE_SESSION = 0
LOGOUT_CLOSE_CONNECTION = 1
LOGOUT_REMOVE_FOR_RECOVERY = 2

# login stages (§11.12.3)
STAGE_SECURITY = 0
STAGE_OPERATIONAL = 1
STAGE_FFP = 3

RSVD_TAG = 0xFFFFFFFF

# SCSI status (SAM-5)
ST_GOOD = 0x00
ST_CHECK_CONDITION = 0x02
ST_BUSY = 0x08
ST_RESERVATION_CONFLICT = 0x18
ST_TASK_SET_FULL = 0x28
ST_TASK_ABORTED = 0x40

# sense keys (SPC-4)
SK_NO_SENSE = 0x0
SK_NOT_READY = 0x2
SK_MEDIUM_ERROR = 0x3
SK_ILLEGAL_REQUEST = 0x5
SK_UNIT_ATTENTION = 0x6
SK_ABORTED_COMMAND = 0xB


class ProtoError(Exception):
    """The target sent something this client cannot go on with (bad digest,
    a PDU it cannot parse) or closed the connection."""


class Closed(ProtoError):
    pass


# ---------------------------------------------------------------- CRC32C (§13.1, Appendix B.4)

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc_table()


def crc32c(data, crc=0):
    """CRC32C (Castagnoli, reflected) of data; chain with crc."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def digest_bytes(data):
    """The 4 digest bytes as they travel: RFC 7143 Appendix B.4 gives 32 zero
    bytes -> aa 36 91 8a, i.e. the CRC's least significant byte first."""
    return struct.pack("<I", crc32c(data))


def pad4(n):
    return (4 - n % 4) % 4


# ---------------------------------------------------------------- text keys (§6.1)

def encode_keys(keys):
    """keys: list of (key, value) pairs or a dict -> key=value\\0... bytes."""
    items = keys.items() if isinstance(keys, dict) else keys
    return b"".join(("%s=%s" % (k, v)).encode() + b"\0" for k, v in items)


def decode_keys(data):
    """bytes -> list of (key, value) pairs (order and repeats kept)."""
    out = []
    for part in bytes(data).split(b"\0"):
        if not part:
            continue
        s = part.decode("utf-8", "replace")
        k, sep, v = s.partition("=")
        out.append((k, v if sep else None))
    return out


def keys_dict(pairs):
    d = {}
    for k, v in pairs:
        d.setdefault(k, v)
    return d


# ---------------------------------------------------------------- PDU

class PDU:
    """One iSCSI PDU: the 48-byte BHS (bytearray), AHS bytes and the data
    segment. Field accessors name the RFC's fields; generic u32(off) reads
    any 32-bit field of the BHS."""

    def __init__(self, opcode=0, bhs=None, ahs=b"", data=b""):
        self.bhs = bytearray(48) if bhs is None else bytearray(bhs)
        if bhs is None:
            self.bhs[0] = opcode & 0x3F
        self.ahs = bytes(ahs)
        self.data = bytes(data)
        # raw extras set by the receiver
        self.hdigest_ok = None
        self.ddigest_ok = None

    # common fields (§11.2.1)
    @property
    def opcode(self):
        return self.bhs[0] & 0x3F

    @property
    def immediate(self):
        return bool(self.bhs[0] & 0x40)

    @property
    def flags(self):
        return self.bhs[1]

    @property
    def final(self):
        return bool(self.bhs[1] & 0x80)

    @property
    def total_ahs_len(self):
        return self.bhs[4]

    @property
    def dsl(self):
        return int.from_bytes(self.bhs[5:8], "big")

    def u32(self, off):
        return struct.unpack_from(">I", self.bhs, off)[0]

    def set_u32(self, off, v):
        struct.pack_into(">I", self.bhs, off, v & 0xFFFFFFFF)

    def u16(self, off):
        return struct.unpack_from(">H", self.bhs, off)[0]

    def set_u16(self, off, v):
        struct.pack_into(">H", self.bhs, off, v & 0xFFFF)

    @property
    def lun(self):
        return struct.unpack_from(">Q", self.bhs, 8)[0]

    @property
    def itt(self):
        return self.u32(16)

    @property
    def ttt(self):
        return self.u32(20)

    # target PDUs: StatSN / ExpCmdSN / MaxCmdSN (same offsets in every
    # target PDU that carries them)
    @property
    def statsn(self):
        return self.u32(24)

    @property
    def expcmdsn(self):
        return self.u32(28)

    @property
    def maxcmdsn(self):
        return self.u32(32)

    # byte 2/3 meanings
    @property
    def response(self):      # SCSI Rsp, TMF Rsp, Logout Rsp
        return self.bhs[2]

    @property
    def status(self):        # SCSI Rsp, Data-In with S
        return self.bhs[3]

    @property
    def reason(self):        # Reject
        return self.bhs[2]

    # Data-In / R2T / SCSI Response
    @property
    def datasn(self):
        return self.u32(36)

    @property
    def r2tsn(self):
        return self.u32(36)

    @property
    def buffer_offset(self):
        return self.u32(40)

    @property
    def desired_len(self):
        return self.u32(44)

    @property
    def residual(self):
        return self.u32(44)

    @property
    def bidi_residual(self):
        return self.u32(40)

    @property
    def expdatasn(self):
        return self.u32(36)

    # Data-In flags (§11.7)
    @property
    def s_bit(self):
        return bool(self.bhs[1] & 0x01)

    @property
    def u_bit(self):
        return bool(self.bhs[1] & 0x02)

    @property
    def o_bit(self):
        return bool(self.bhs[1] & 0x04)

    @property
    def a_bit(self):
        return bool(self.bhs[1] & 0x40)

    # login response (§11.13)
    @property
    def transit(self):
        return bool(self.bhs[1] & 0x80)

    @property
    def cont(self):
        return bool(self.bhs[1] & 0x40)

    @property
    def csg(self):
        return (self.bhs[1] >> 2) & 3

    @property
    def nsg(self):
        return self.bhs[1] & 3

    @property
    def version_max(self):
        return self.bhs[2]

    @property
    def version_active(self):
        return self.bhs[3]

    @property
    def isid(self):
        return bytes(self.bhs[8:14])

    @property
    def tsih(self):
        return self.u16(14)

    @property
    def status_class(self):
        return self.bhs[36]

    @property
    def status_detail(self):
        return self.bhs[37]

    @property
    def keys(self):
        return decode_keys(self.data)

    # logout response
    @property
    def time2wait(self):
        return self.u16(40)

    @property
    def time2retain(self):
        return self.u16(42)

    # async
    @property
    def async_event(self):
        return self.bhs[36]

    def name(self):
        return OP_NAMES.get(self.opcode, "opcode %02xh" % self.opcode)

    def __repr__(self):
        s = "<%s flags %02x itt %08x dsl %d" % (self.name(), self.flags, self.itt, self.dsl)
        if self.opcode == OP_LOGIN_RSP:
            s += " status %02x/%02x T%d CSG%d NSG%d tsih %d" % (
                self.status_class, self.status_detail, self.transit, self.csg, self.nsg,
                self.tsih)
        elif self.opcode == OP_REJECT:
            s += " reason %02xh" % self.reason
        elif self.opcode == OP_SCSI_RSP:
            s += " resp %d status %02xh resid %d" % (self.response, self.status, self.residual)
        elif self.opcode in (OP_TMF_RSP, OP_LOGOUT_RSP):
            s += " response %d" % self.response
        return s + ">"

    def encode(self, hdigest=False, ddigest=False, dsl=None, ahs_len=None):
        """Wire bytes. dsl / ahs_len override the length fields (for
        malformed PDUs); the data and AHS are sent as they are."""
        b = bytearray(self.bhs)
        alen = len(self.ahs)
        b[4] = ((alen + 3) // 4 if ahs_len is None else ahs_len) & 0xFF
        n = len(self.data) if dsl is None else dsl
        b[5:8] = (n & 0xFFFFFF).to_bytes(3, "big")
        hdr = bytes(b) + self.ahs + bytes(pad4(alen))
        out = hdr + (digest_bytes(hdr) if hdigest else b"")
        if self.data:
            d = self.data + bytes(pad4(len(self.data)))
            out += d + (digest_bytes(d) if ddigest else b"")
        return out


def _lun_bytes(lun):
    """A LUN number -> the 8-byte LUN field (SAM-5 single-level: peripheral
    addressing below 256, flat space addressing up to 16383)."""
    if lun < 256:
        return struct.pack(">BBxxxxxx", 0, lun)
    return struct.pack(">Hxxxxxx", 0x4000 | (lun & 0x3FFF))


def _base(opcode, immediate=False, flags=0, lun=0, itt=0):
    p = PDU(opcode)
    if immediate:
        p.bhs[0] |= 0x40
    p.bhs[1] = flags & 0xFF
    p.bhs[8:16] = _lun_bytes(lun)
    p.set_u32(16, itt)
    return p


def login_req(isid, tsih, itt, cid, cmdsn, expstatsn, csg, nsg, transit, cont=False,
              keys=b"", vmax=0, vmin=0):
    """Login Request (§11.12); keys: bytes or key list."""
    p = PDU(OP_LOGIN_REQ)
    p.bhs[0] |= 0x40          # always immediate
    p.bhs[1] = (0x80 if transit else 0) | (0x40 if cont else 0) | ((csg & 3) << 2) | (nsg & 3)
    p.bhs[2] = vmax
    p.bhs[3] = vmin
    p.bhs[8:14] = isid
    p.set_u16(14, tsih)
    p.set_u32(16, itt)
    p.set_u16(20, cid)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    p.data = keys if isinstance(keys, (bytes, bytearray)) else encode_keys(keys)
    return p


def scsi_cmd(itt, cmdsn, expstatsn, cdb, lun=0, edtl=0, read=False, write=False,
             final=True, attr=1, immediate=False, data=b"", bidi_read_len=None):
    """SCSI Command (§11.3). CDBs over 16 bytes go into an Extended CDB AHS
    (type 1, §11.3.1.1... §11.2.2.3); bidi_read_len adds the Bidirectional
    Expected Read-Data Length AHS (type 2)."""
    flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | (attr & 7)
    p = _base(OP_SCSI_CMD, immediate, flags, lun, itt)
    p.set_u32(20, edtl)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    cdb = bytes(cdb)
    p.bhs[32:48] = cdb[:16].ljust(16, b"\0")
    ahs = b""
    if len(cdb) > 16:
        ext = cdb[16:]
        ahs += struct.pack(">HB", len(ext) + 1, 1) + b"\0" + ext + bytes(pad4(len(ext) + 4))
    if bidi_read_len is not None:
        ahs += struct.pack(">HBBI", 5, 2, 0, bidi_read_len)
    p.ahs = ahs
    p.data = bytes(data)
    return p


def data_out(itt, ttt, expstatsn, datasn, offset, data, final, lun=0):
    """SCSI Data-Out (§11.7)."""
    p = _base(OP_DATA_OUT, False, 0x80 if final else 0, lun, itt)
    p.set_u32(20, ttt)
    p.set_u32(28, expstatsn)
    p.set_u32(36, datasn)
    p.set_u32(40, offset)
    p.data = bytes(data)
    return p


def nop_out(itt, ttt, cmdsn, expstatsn, data=b"", lun=0, immediate=False):
    """NOP-Out (§11.18)."""
    p = _base(OP_NOP_OUT, immediate, 0x80, lun, itt)
    p.set_u32(20, ttt)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    p.data = bytes(data)
    return p


def tmf_req(itt, cmdsn, expstatsn, function, lun=0, ref_itt=RSVD_TAG, refcmdsn=0,
            expdatasn=0, immediate=True):
    """Task Management Function Request (§11.5)."""
    p = _base(OP_TMF_REQ, immediate, 0x80 | (function & 0x7F), lun, itt)
    p.set_u32(20, ref_itt)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    p.set_u32(32, refcmdsn)
    p.set_u32(36, expdatasn)
    return p


def text_req(itt, ttt, cmdsn, expstatsn, keys=b"", final=True, cont=False, immediate=False):
    """Text Request (§11.10)."""
    p = _base(OP_TEXT_REQ, immediate, (0x80 if final else 0) | (0x40 if cont else 0), 0, itt)
    p.set_u32(20, ttt)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    p.data = keys if isinstance(keys, (bytes, bytearray)) else encode_keys(keys)
    return p


def logout_req(itt, cmdsn, expstatsn, reason=LOGOUT_CLOSE_SESSION, cid=0, immediate=False):
    """Logout Request (§11.14)."""
    p = _base(OP_LOGOUT_REQ, immediate, 0x80 | (reason & 0x7F), 0, itt)
    p.bhs[8:16] = bytes(8)
    p.set_u16(20, cid)
    p.set_u32(24, cmdsn)
    p.set_u32(28, expstatsn)
    return p


def snack_req(itt, ttt, expstatsn, snack_type, begrun, runlength, lun=0):
    """SNACK Request (§11.16)."""
    p = _base(OP_SNACK_REQ, False, 0x80 | (snack_type & 0xF), lun, itt)
    p.set_u32(20, ttt)
    p.set_u32(28, expstatsn)
    p.set_u32(40, begrun)
    p.set_u32(44, runlength)
    return p


def raw_pdu(opcode, flags=0x80, itt=0, fields=None, data=b"", immediate=False):
    """Any opcode with chosen 32-bit fields {offset: value} (reserved opcodes
    for robustness tests)."""
    p = _base(opcode, immediate, flags, 0, itt)
    for off, v in (fields or {}).items():
        p.set_u32(off, v)
    p.data = bytes(data)
    return p


# ---------------------------------------------------------------- target PDU builders
# (for the self-test round trips; a test does not need them)

def target_pdu(opcode, flags=0x80, itt=0, statsn=0, expcmdsn=0, maxcmdsn=0, data=b""):
    p = _base(opcode, False, flags, 0, itt)
    p.set_u32(24, statsn)
    p.set_u32(28, expcmdsn)
    p.set_u32(32, maxcmdsn)
    p.data = bytes(data)
    return p


# ---------------------------------------------------------------- SCSI helpers (SBC-3 / SPC-4)

def cdb_tur():
    return bytes(6)


def cdb_inquiry(alloc=255, evpd=False, page=0):
    return struct.pack(">BBBHB", 0x12, 1 if evpd else 0, page, alloc, 0)


def cdb_read_capacity10():
    return bytes([0x25]) + bytes(9)


def cdb_read_capacity16(alloc=32):
    return struct.pack(">BBQIBB", 0x9E, 0x10, 0, alloc, 0, 0)


def cdb_report_luns(alloc=4096, select=0):
    return struct.pack(">BBBxxxIxx", 0xA0, 0, select, alloc)


def cdb_read10(lba, blocks, flags=0):
    return struct.pack(">BBIBHB", 0x28, flags, lba, 0, blocks, 0)


def cdb_write10(lba, blocks, flags=0):
    return struct.pack(">BBIBHB", 0x2A, flags, lba, 0, blocks, 0)


def cdb_read16(lba, blocks):
    return struct.pack(">BBQIBB", 0x88, 0, lba, blocks, 0, 0)


def cdb_write16(lba, blocks):
    return struct.pack(">BBQIBB", 0x8A, 0, lba, blocks, 0, 0)


def parse_sense(buf):
    """(sense key, ASC, ASCQ) from fixed (70h/71h) or descriptor (72h/73h)
    format sense data (SPC-4 §4.5); None if it is neither."""
    if len(buf) < 2:
        return None
    code = buf[0] & 0x7F
    if code in (0x70, 0x71) and len(buf) >= 14:
        return buf[2] & 0x0F, buf[12], buf[13]
    if code in (0x72, 0x73) and len(buf) >= 4:
        return buf[1] & 0x0F, buf[2], buf[3]
    return None


def pattern(seed, n):
    """n bytes of a pattern that differs by seed and offset (every 4-byte word
    holds seed and its byte offset, so misplaced data shows)."""
    words = (n + 7) // 8
    b = b"".join(struct.pack(">II", seed & 0xFFFFFFFF, i * 8) for i in range(words))
    return b[:n]


# ---------------------------------------------------------------- CHAP (RFC 1994 with MD5; RFC 7143 §12.1.3)

def chap_response(ident, secret, challenge):
    return hashlib.md5(bytes([ident & 0xFF]) + secret + challenge).digest()


def chap_decode(v):
    """A CHAP binary value: 0x<hex> or 0b<base64> (§6.1 binary-value)."""
    import base64
    if v is None:
        return None
    if v[:2] in ("0x", "0X"):
        return bytes.fromhex(v[2:] if len(v) % 2 == 0 else "0" + v[2:])
    if v[:2] in ("0b", "0B"):
        return base64.b64decode(v[2:])
    raise ValueError("not a binary value: %r" % v)


def chap_encode(b):
    return "0x" + bytes(b).hex()


# ---------------------------------------------------------------- negotiation rules (§13)

# key: (kind, default, lo, hi); kind: num-min / num-max / decl / and / or / list
OP_KEYS = {
    "HeaderDigest": ("list", "None", None, None),
    "DataDigest": ("list", "None", None, None),
    "MaxConnections": ("min", 1, 1, 65535),
    "InitialR2T": ("or", "Yes", None, None),
    "ImmediateData": ("and", "Yes", None, None),
    "MaxRecvDataSegmentLength": ("decl", 8192, 512, 2**24 - 1),
    "MaxBurstLength": ("min", 262144, 512, 2**24 - 1),
    "FirstBurstLength": ("min", 65536, 512, 2**24 - 1),
    "DefaultTime2Wait": ("max", 2, 0, 3600),
    "DefaultTime2Retain": ("min", 20, 0, 3600),
    "MaxOutstandingR2T": ("min", 1, 1, 65535),
    "DataPDUInOrder": ("or", "Yes", None, None),
    "DataSequenceInOrder": ("or", "Yes", None, None),
    "ErrorRecoveryLevel": ("min", 0, 0, 2),
}


def num(v):
    """A numerical-value (§6.1): decimal, or hex with 0x."""
    v = str(v)
    if v[:2] in ("0x", "0X"):
        return int(v[2:], 16)
    return int(v, 10)


def check_negotiated(offered, answered):
    """Compare the target's answers with what we offered, by each key's
    result function (§6.2, §13). Returns a list of violations."""
    bad = []
    for k, ov in offered.items():
        if k not in OP_KEYS or k not in answered:
            continue
        kind, _, lo, hi = OP_KEYS[k]
        av = answered[k]
        if av in ("Reject", "Irrelevant", "NotUnderstood"):
            continue
        if kind in ("min", "max"):
            try:
                a, o = num(av), num(ov)
            except ValueError:
                bad.append("%s=%s is not a number (§13)" % (k, av))
                continue
            if a < lo or a > hi:
                bad.append("%s=%d outside %d..%d (§13)" % (k, a, lo, hi))
            if kind == "min" and a > o:
                bad.append("%s answered %d > offered %d (result function Minimum, §6.2.2)" %
                           (k, a, o))
            if kind == "max" and a < o:
                bad.append("%s answered %d < offered %d (result function Maximum, §6.2.2)" %
                           (k, a, o))
        elif kind == "and" and ov == "No" and av != "No":
            bad.append("%s answered %s to our No (result function AND, §6.2.2)" % (k, av))
        elif kind == "or" and ov == "Yes" and av != "Yes":
            bad.append("%s answered %s to our Yes (result function OR, §6.2.2)" % (k, av))
        elif kind == "list" and av not in [x.strip() for x in str(ov).split(",")]:
            bad.append("%s answered %s, not one of our %s (§6.2.1)" % (k, av, ov))
        elif kind in ("and", "or") and av not in ("Yes", "No"):
            bad.append("%s answered %r (Yes/No, §13)" % (k, av))
    return bad


class Params:
    """Operational parameters in force on a connection/session."""

    def __init__(self):
        self.header_digest = False
        self.data_digest = False
        self.max_recv_dsl = 8192        # ours (what the target may send us)
        self.target_max_recv_dsl = 8192  # the target's (what we may send)
        self.max_burst = 262144
        self.first_burst = 65536
        self.immediate_data = True
        self.initial_r2t = True
        self.max_outstanding_r2t = 1
        self.data_pdu_in_order = True
        self.data_seq_in_order = True
        self.erl = 0
        self.time2wait = 2
        self.time2retain = 20
        self.max_connections = 1

    def apply(self, ours, theirs):
        """Set the values from our offer and the target's answers."""
        def val(k):
            v = theirs.get(k)
            if v is None or v in ("Reject", "Irrelevant", "NotUnderstood"):
                v = ours.get(k)
            return v
        if ours.get("MaxRecvDataSegmentLength") is not None:
            self.max_recv_dsl = num(ours["MaxRecvDataSegmentLength"])
        if theirs.get("MaxRecvDataSegmentLength") not in (None, "Reject"):
            try:
                self.target_max_recv_dsl = num(theirs["MaxRecvDataSegmentLength"])
            except ValueError:
                pass
        for k, attr in (("MaxBurstLength", "max_burst"), ("FirstBurstLength", "first_burst"),
                        ("MaxOutstandingR2T", "max_outstanding_r2t"),
                        ("ErrorRecoveryLevel", "erl"), ("DefaultTime2Wait", "time2wait"),
                        ("DefaultTime2Retain", "time2retain"),
                        ("MaxConnections", "max_connections")):
            v = val(k)
            if v is not None:
                try:
                    setattr(self, attr, num(v))
                except ValueError:
                    pass
        for k, attr in (("ImmediateData", "immediate_data"), ("InitialR2T", "initial_r2t"),
                        ("DataPDUInOrder", "data_pdu_in_order"),
                        ("DataSequenceInOrder", "data_seq_in_order")):
            v = val(k)
            if v is not None:
                setattr(self, attr, v == "Yes")
        self.header_digest = val("HeaderDigest") == "CRC32C"
        self.data_digest = val("DataDigest") == "CRC32C"


class LoginResult:
    def __init__(self):
        self.ok = False
        self.status = None        # (class, detail) of the last response
        self.pdus = []            # every Login Response
        self.keys = []            # every key the target sent, in order
        self.error = None         # "closed" / "timeout" / text
        self.tsih = 0

    def kd(self):
        return keys_dict(self.keys)

    def __repr__(self):
        return "<login ok=%s status=%s error=%s keys=%s>" % (
            self.ok, "%02x/%02x" % self.status if self.status else None, self.error,
            self.keys[:12])


class Task:
    """One SCSI command in flight: what the target sent for it and what it
    did wrong."""

    def __init__(self, itt, cmdsn, lun, edtl, read_len, write_data, cdb):
        self.itt = itt
        self.cmdsn = cmdsn
        self.lun = lun
        self.edtl = edtl
        self.read_len = read_len
        self.cdb = cdb
        self.write_data = write_data or b""
        self.data = bytearray(read_len)
        self.read_bytes = 0
        self.datain = []          # Data-In PDUs (headers only kept)
        self.r2ts = []            # R2T PDUs
        self.pending_r2t = []
        self.max_pending_r2t = 0
        self.sent = set()         # (offset, len) sent as Data-Out
        self.unsolicited = 0      # bytes sent as immediate + unsolicited data
        self.next_datasn = 0
        self.next_r2tsn = 0
        self.rsp = None           # SCSI Response PDU (or the final Data-In with S)
        self.status = None
        self.sense = b""
        self.phase_collapse = False
        self.reject = None
        self.errors = []
        self.done = False
        self.resid_under = False
        self.resid_over = False
        self.residual = 0

    def sense_key(self):
        s = parse_sense(self.sense)
        return s

    def __repr__(self):
        return "<task itt %08x status %s sense %s data %d errs %s%s>" % (
            self.itt, self.status, self.sense_key(), self.read_bytes, self.errors,
            " REJECTED %02xh" % self.reject.reason if self.reject else "")


# ---------------------------------------------------------------- the connection

class Conn:
    """One TCP connection to the target, and (after login) its session state."""

    _isid_counter = [0]

    def __init__(self, host, port, timeout=5.0, isid=None, cid=0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.params = Params()
        if isid is None:
            Conn._isid_counter[0] += 1
            n = (os.getpid() << 12 | Conn._isid_counter[0]) & 0xFFFFFFFF
            # ISID type 2 (random), §11.12.5
            isid = bytes([0x80, 0x12, 0x34]) + n.to_bytes(4, "big")[1:]
        self.isid = isid
        self.tsih = 0
        self.cid = cid
        self.cmdsn = 0
        self.expstatsn = 0
        self.exp_cmdsn = None      # from the target
        self.max_cmdsn = None
        self.itt = 0x100
        self.ffp = False
        self.hdigest = False
        self.ddigest = False
        self.tasks = {}
        self.other = []            # PDUs not claimed by a task (NOP-In, Async, Reject...)
        self.violations = []       # RFC violations seen on this connection
        self.last_statsn = None
        self.closed = False
        self._buf = b""
        self.auto_nop_reply = True
        self.last_reject = None

    # -- plumbing
    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def abort(self):
        """Close with a TCP reset (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def send_raw(self, b):
        self.sock.sendall(b)

    def send(self, pdu, **kw):
        self.sock.sendall(pdu.encode(self.hdigest, self.ddigest, **kw))

    def next_itt(self):
        self.itt = (self.itt + 1) & 0xFFFFFFFF
        if self.itt == RSVD_TAG:
            self.itt = 1
        return self.itt

    def _recv_exact(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" %
                                     (n, len(self._buf)))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed by the target (%d bytes pending)" %
                             len(self._buf))
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_pdu(self, timeout=None):
        """The next PDU from the target. Raises socket.timeout, Closed, or
        ProtoError (digest errors are recorded and raised: at ERL 0 the
        connection is unusable afterwards)."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        bhs = self._recv_exact(48, deadline)
        p = PDU(bhs=bhs)
        ahs_len = p.total_ahs_len * 4
        ahs = self._recv_exact(ahs_len, deadline) if ahs_len else b""
        p.ahs = ahs
        if self.hdigest:
            d = self._recv_exact(4, deadline)
            p.hdigest_ok = d == digest_bytes(bhs + ahs)
            if not p.hdigest_ok:
                self.violations.append("header digest mismatch on %r" % p)
                raise ProtoError("bad header digest from the target on %r" % p)
        dsl = p.dsl
        if dsl:
            if self.ffp and dsl > self.params.max_recv_dsl:
                self.violations.append(
                    "%s with DataSegmentLength %d > our MaxRecvDataSegmentLength %d (§13.12)" %
                    (p.name(), dsl, self.params.max_recv_dsl))
            raw = self._recv_exact(dsl + pad4(dsl), deadline)
            if self.ddigest:
                d = self._recv_exact(4, deadline)
                p.ddigest_ok = d == digest_bytes(raw)
                if not p.ddigest_ok:
                    self.violations.append("data digest mismatch on %r" % p)
            p.data = raw[:dsl]
        self._track_sn(p)
        return p

    def _track_sn(self, p):
        op = p.opcode
        if op in (OP_NOP_IN, OP_SCSI_RSP, OP_TMF_RSP, OP_TEXT_RSP, OP_DATA_IN,
                  OP_LOGOUT_RSP, OP_R2T, OP_ASYNC, OP_REJECT) or \
                (op == OP_LOGIN_RSP and p.status_class == 0):
            if op != OP_LOGIN_RSP or p.transit:
                exp, mx = p.expcmdsn, p.maxcmdsn
                # §4.2.2.1: MaxCmdSN >= ExpCmdSN - 1 (serial arithmetic)
                if ((mx - exp + 1) & 0xFFFFFFFF) >= 0x80000000:
                    self.violations.append("%s: MaxCmdSN %d < ExpCmdSN %d - 1 (§4.2.2.1)" %
                                           (p.name(), mx, exp))
                if op != OP_DATA_IN or p.s_bit or True:
                    if self.exp_cmdsn is None or sn_gt(exp, self.exp_cmdsn) or exp == self.exp_cmdsn:
                        self.exp_cmdsn = exp
                    if self.max_cmdsn is None or sn_gt(mx, self.max_cmdsn) or mx == self.max_cmdsn:
                        self.max_cmdsn = mx
        # StatSN: PDUs that carry a status advance it (§4.2.2.2)
        carries_status = op in (OP_SCSI_RSP, OP_TMF_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP) or \
            (op == OP_DATA_IN and p.s_bit) or (op == OP_NOP_IN and p.itt != RSVD_TAG) or \
            (op == OP_LOGIN_RSP and p.transit and p.nsg == STAGE_FFP and p.status_class == 0)
        if carries_status:
            if self.ffp and self.last_statsn is not None and \
                    p.statsn != ((self.last_statsn + 1) & 0xFFFFFFFF):
                self.violations.append("%s StatSN %d, expected %d (§4.2.2.2)" %
                                       (p.name(), p.statsn, (self.last_statsn + 1) & 0xFFFFFFFF))
            self.last_statsn = p.statsn
            self.expstatsn = (p.statsn + 1) & 0xFFFFFFFF

    def expect_close(self, timeout=3.0):
        """Wait for the target to end the connection. Returns ("closed", None),
        ("pdu", first PDU seen) if one arrived first (the rest is read until
        close or timeout; .closed_after says which), or ("timeout", None)."""
        deadline = time.time() + timeout
        first = None
        while time.time() < deadline:
            try:
                p = self.recv_pdu(timeout=max(0.01, deadline - time.time()))
            except Closed:
                if first is not None:
                    first.closed_after = True
                    return "pdu", first
                return "closed", None
            except (socket.timeout, TimeoutError):
                break
            except (ProtoError, OSError):
                if first is not None:
                    first.closed_after = True
                    return "pdu", first
                return "closed", None
            if first is None:
                first = p
                first.all = []
            first.all.append(p)
        if first is not None:
            first.closed_after = False
            return "pdu", first
        return "timeout", None

    # -- login (§6)
    def login_pdu(self, csg, nsg, transit, keys, cont=False, vmax=0, vmin=0, itt=None,
                  cmdsn=None):
        p = login_req(self.isid, self.tsih, self.itt if itt is None else itt, self.cid,
                      self.cmdsn if cmdsn is None else cmdsn, self.expstatsn, csg, nsg,
                      transit, cont, keys, vmax, vmin)
        self.send(p)
        return p

    def login_exchange(self, csg, nsg, transit, keys, res, cont=False, timeout=None, **kw):
        """Send one Login Request, read the answer (following C-bit
        continuations, §11.12.2); returns the last Login Response."""
        self.login_pdu(csg, nsg, transit, keys, cont, **kw)
        while True:
            r = self.recv_pdu(timeout)
            if r.opcode != OP_LOGIN_RSP:
                res.pdus.append(r)
                raise ProtoError("%r during login (expected a Login Response)" % r)
            res.pdus.append(r)
            res.keys.extend(r.keys)
            res.status = (r.status_class, r.status_detail)
            if r.status_class != 0:
                return r
            # §11.13.3: the target answers in the stage we are in, and may
            # only move to the stage we asked for (or stay)
            if r.csg != csg:
                self.violations.append("Login Response CSG %d to a request in stage %d "
                                       "(§11.12.3)" % (r.csg, csg))
            if r.transit and (not transit or r.nsg > nsg or r.nsg == 2):
                self.violations.append("Login Response T=1 NSG %d to a request T=%d NSG %d "
                                       "(§11.12.3)" % (r.nsg, transit, nsg))
            if r.itt != self.itt:
                self.violations.append("Login Response ITT %08x, request's %08x (§11.13)" %
                                       (r.itt, self.itt))
            if r.tsih:
                res.tsih = r.tsih
            if r.cont:
                # the target has more text: ask for it with an empty request
                self.login_pdu(csg, nsg, False, b"")
                continue
            return r

    def login(self, initiator=None, target=None, session_type="Normal", op_keys=None,
              chap=None, security=True, extra_sec_keys=None, vmax=0, vmin=0,
              timeout=None):
        """Full login. chap: dict(user=, secret=, muser=None, msecret=None,
        challenge=None) -> CHAP (mutual when msecret). op_keys: operational
        keys we offer (list of pairs or dict; None = a sensible default set).
        Returns a LoginResult; on success the connection is in FFP with
        self.params set."""
        res = LoginResult()
        res.offered = {}
        sec = []
        if initiator is not None:
            sec.append(("InitiatorName", initiator))
        if session_type is not None:
            sec.append(("SessionType", session_type))
        if target is not None:
            sec.append(("TargetName", target))
        if op_keys is None:
            op_keys = [("HeaderDigest", "None"), ("DataDigest", "None"),
                       ("MaxRecvDataSegmentLength", "65536"),
                       ("ErrorRecoveryLevel", "0")]
            if session_type != "Discovery":
                op_keys += [("InitialR2T", "Yes"), ("ImmediateData", "Yes"),
                            ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536"),
                            ("MaxOutstandingR2T", "1"), ("DefaultTime2Wait", "2"),
                            ("DefaultTime2Retain", "20"), ("DataPDUInOrder", "Yes"),
                            ("DataSequenceInOrder", "Yes"), ("MaxConnections", "1")]
        op_keys = list(op_keys.items()) if isinstance(op_keys, dict) else list(op_keys)
        res.offered = dict(op_keys)
        self.itt = self.next_itt()
        try:
            if security:
                r = self._security(sec, chap, extra_sec_keys, res, vmax, vmin, timeout)
                if r is None:
                    return res
                if r.transit and r.nsg == STAGE_FFP:
                    return self._enter_ffp(res, {})
                first_op = op_keys
            else:
                first_op = sec + op_keys
            # operational stage: offer, then follow until the target transits
            keys = first_op
            for _ in range(8):
                r = self.login_exchange(STAGE_OPERATIONAL, STAGE_FFP, True, keys, res,
                                        timeout=timeout, vmax=vmax, vmin=vmin)
                if r.status_class != 0:
                    return res
                if r.transit and r.nsg == STAGE_FFP:
                    return self._enter_ffp(res, res.offered)
                # the target offered keys back (or is not ready): answer what it
                # proposed that we did not (declaratives echoed as ours) and retry
                keys = []
                mine = dict(first_op)
                for k, v in r.keys:
                    if k not in mine:
                        keys.append((k, v if k in OP_KEYS else "NotUnderstood"))
                        mine[k] = v
            res.error = "the target never transits to FFP"
            return res
        except Closed:
            res.error = "closed"
            return res
        except (socket.timeout, TimeoutError):
            res.error = "timeout"
            return res
        except ProtoError as e:
            res.error = str(e)
            return res

    def _security(self, sec, chap, extra, res, vmax, vmin, timeout):
        keys = list(sec) + list(extra or [])
        if chap is None:
            keys.append(("AuthMethod", "None"))
            for _ in range(4):
                r = self.login_exchange(STAGE_SECURITY, STAGE_OPERATIONAL, True, keys, res,
                                        timeout=timeout, vmax=vmax, vmin=vmin)
                if r.status_class != 0:
                    return None
                if r.transit:
                    return r
                keys = []
            res.error = "the target stays in the security stage"
            return None
        keys.append(("AuthMethod", "CHAP,None" if chap.get("offer_none") else "CHAP"))
        r = self.login_exchange(STAGE_SECURITY, STAGE_OPERATIONAL, False, keys, res,
                                timeout=timeout, vmax=vmax, vmin=vmin)
        if r.status_class != 0:
            return None
        am = keys_dict(r.keys).get("AuthMethod")
        if am != "CHAP":
            res.error = "AuthMethod answered %r" % am
            if r.transit:
                return r
            return None
        r = self.login_exchange(STAGE_SECURITY, STAGE_OPERATIONAL, False,
                                [("CHAP_A", chap.get("algorithms", "5"))], res,
                                timeout=timeout, vmax=vmax, vmin=vmin)
        if r.status_class != 0:
            return None
        kd = keys_dict(r.keys)
        res.chap_a = kd.get("CHAP_A")
        if kd.get("CHAP_A") != "5" or "CHAP_I" not in kd or "CHAP_C" not in kd:
            res.error = "no CHAP challenge (CHAP_A=%s)" % kd.get("CHAP_A")
            return None
        ident = int(kd["CHAP_I"])
        chal = chap_decode(kd["CHAP_C"])
        res.target_challenge = chal
        resp = chap_response(ident, chap["secret"].encode(), chal)
        keys = [("CHAP_N", chap["user"]), ("CHAP_R", chap_encode(resp))]
        my_id = my_chal = None
        if chap.get("msecret") is not None:
            my_id = chap.get("ident", 0x5A)
            my_chal = chap.get("challenge") or os.urandom(16)
            if chap.get("reflect"):
                my_chal = chal
                my_id = ident
            keys += [("CHAP_I", str(my_id)), ("CHAP_C", chap_encode(my_chal))]
        r = self.login_exchange(STAGE_SECURITY, STAGE_OPERATIONAL, True, keys, res,
                                timeout=timeout, vmax=vmax, vmin=vmin)
        if r.status_class != 0:
            return None
        if my_chal is not None:
            kd = keys_dict(r.keys)
            want = chap_response(my_id, chap["msecret"].encode(), my_chal)
            res.mutual_ok = kd.get("CHAP_N") == chap.get("muser") and \
                kd.get("CHAP_R") is not None and chap_decode(kd["CHAP_R"]) == want
            if not res.mutual_ok:
                res.error = "target's mutual CHAP answer wrong: %r" % kd
                return None
        if not r.transit:
            # the target wants another (empty) round before leaving security
            for _ in range(3):
                r = self.login_exchange(STAGE_SECURITY, STAGE_OPERATIONAL, True, [], res,
                                        timeout=timeout)
                if r.status_class != 0:
                    return None
                if r.transit:
                    break
        return r

    def _enter_ffp(self, res, offered):
        theirs = res.kd()
        res.violations = check_negotiated(offered, theirs)
        self.params.apply(offered, theirs)
        self.tsih = res.tsih
        self.ffp = True
        self.hdigest = self.params.header_digest
        self.ddigest = self.params.data_digest
        # §6.? the first command of the session carries the login's CmdSN
        res.ok = True
        return res

    # -- full feature phase
    def take_cmdsn(self, immediate=False):
        c = self.cmdsn
        if not immediate:
            self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        return c

    def submit(self, cdb, lun=0, read_len=0, write_data=None, edtl=None, imm_data=None,
               unsolicited=None, cmdsn=None, immediate=False, itt=None, attr=1,
               read=None, write=None):
        """Send a SCSI Command (+ immediate data and unsolicited Data-Out as the
        negotiated ImmediateData / InitialR2T / FirstBurstLength allow, unless
        imm_data / unsolicited give byte counts). Returns the Task."""
        pr = self.params
        wd = bytes(write_data or b"")
        if edtl is None:
            edtl = len(wd) if write_data is not None else read_len
        if itt is None:
            itt = self.next_itt()
        c = self.take_cmdsn(immediate) if cmdsn is None else cmdsn
        t = Task(itt, c, lun, edtl, read_len, wd, cdb)
        wlen = min(len(wd), edtl)
        if imm_data is None:
            imm_data = min(wlen, pr.first_burst, pr.target_max_recv_dsl) \
                if pr.immediate_data and wlen else 0
        if unsolicited is None:
            unsolicited = max(0, min(wlen, pr.first_burst) - imm_data) \
                if not pr.initial_r2t and wlen else 0
        rd = read if read is not None else read_len > 0
        wr = write if write is not None else write_data is not None
        p = scsi_cmd(itt, c, self.expstatsn, cdb, lun, edtl, rd, wr,
                     final=(unsolicited == 0), attr=attr, immediate=immediate,
                     data=wd[:imm_data])
        self.tasks[itt] = t
        self.send(p)
        t.unsolicited = imm_data
        if imm_data:
            t.sent.add((0, imm_data))
        if unsolicited:
            self._send_data(t, RSVD_TAG, imm_data, unsolicited, datasn0=0)
            t.unsolicited += unsolicited
        return t

    def _send_data(self, t, ttt, off, length, datasn0=0, chunk=None):
        """Data-Out PDUs for [off, off+length): pieces no larger than the
        target's MaxRecvDataSegmentLength, DataSN from datasn0 (§11.7.4)."""
        chunk = chunk or self.params.target_max_recv_dsl
        end = off + length
        sn = datasn0
        while off < end:
            n = min(chunk, end - off)
            data = t.write_data[off:off + n]
            if len(data) < n:
                data = data + bytes(n - len(data))
            self.send(data_out(t.itt, ttt, self.expstatsn, sn, off, data,
                               final=(off + n >= end), lun=t.lun))
            t.sent.add((off, n))
            off += n
            sn += 1

    def _on_r2t(self, t, p):
        if p.r2tsn != t.next_r2tsn:
            t.errors.append("R2TSN %d, expected %d (§11.8)" % (p.r2tsn, t.next_r2tsn))
        t.next_r2tsn = p.r2tsn + 1
        if p.desired_len == 0:
            t.errors.append("R2T with Desired Data Transfer Length 0 (§11.8)")
        if p.desired_len > self.params.max_burst:
            t.errors.append("R2T desires %d > MaxBurstLength %d (§11.8)" %
                            (p.desired_len, self.params.max_burst))
        if p.buffer_offset + p.desired_len > t.edtl:
            t.errors.append("R2T asks [%d, +%d) beyond the Expected Data Transfer Length %d "
                            "(§11.8)" % (p.buffer_offset, p.desired_len, t.edtl))
        if p.buffer_offset < t.unsolicited and self.params.data_seq_in_order:
            t.errors.append("R2T asks offset %d already sent as immediate/unsolicited data "
                            "(%d bytes) (§11.8)" % (p.buffer_offset, t.unsolicited))
        if p.ttt == RSVD_TAG:
            t.errors.append("R2T with the reserved Target Transfer Tag (§11.8)")
        t.r2ts.append(p)
        t.pending_r2t.append(p)
        t.max_pending_r2t = max(t.max_pending_r2t, len(t.pending_r2t))
        if len(t.pending_r2t) > self.params.max_outstanding_r2t:
            t.errors.append("%d R2Ts outstanding > MaxOutstandingR2T %d (§13.17)" %
                            (len(t.pending_r2t), self.params.max_outstanding_r2t))

    def _answer_r2ts(self, t):
        while t.pending_r2t:
            r = t.pending_r2t.pop(0)
            self._send_data(t, r.ttt, r.buffer_offset, r.desired_len)

    def _on_datain(self, t, p):
        if p.datasn != t.next_datasn:
            t.errors.append("Data-In DataSN %d, expected %d (§11.7.5)" % (p.datasn, t.next_datasn))
        t.next_datasn = p.datasn + 1
        off, n = p.buffer_offset, len(p.data)
        if off + n > t.read_len:
            t.errors.append("Data-In [%d, +%d) beyond the %d bytes expected (§11.7.6)" %
                            (off, n, t.read_len))
        else:
            if self.params.data_pdu_in_order and off != t.read_bytes:
                t.errors.append("Data-In offset %d, expected %d in order (§13.19)" %
                                (off, t.read_bytes))
            t.data[off:off + n] = p.data
        t.read_bytes += n
        t.datain.append(p)
        if p.a_bit and self.params.erl == 0:
            t.errors.append("Data-In with A=1 at ErrorRecoveryLevel 0 (§11.7.2)")
        if p.o_bit and p.u_bit:
            t.errors.append("Data-In with both O and U set (§11.7.1)")
        if p.s_bit:
            if not p.final:
                t.errors.append("Data-In with S but not F (§11.7.1)")
            t.phase_collapse = True
            t.status = p.status
            t.rsp = p
            t.resid_over, t.resid_under, t.residual = p.o_bit, p.u_bit, p.residual
            t.done = True
        elif p.status or p.o_bit or p.u_bit:
            t.errors.append("Data-In without S carries status/residual bits (%02x) (§11.7)" %
                            p.flags)

    def _on_rsp(self, t, p):
        t.rsp = p
        t.status = p.status
        t.resid_over, t.resid_under, t.residual = p.o_bit, p.u_bit, p.residual
        if p.dsl >= 2:
            sl = struct.unpack(">H", p.data[:2])[0]
            t.sense = p.data[2:2 + sl]
            if 2 + sl > p.dsl:
                t.errors.append("SenseLength %d beyond the %d-byte data segment (§11.4.7.2)" %
                                (sl, p.dsl))
        if p.o_bit and p.u_bit:
            t.errors.append("SCSI Response with both O and U set (§11.4.5.1)")
        if p.response == 0 and p.status == ST_CHECK_CONDITION and not t.sense:
            t.errors.append("CHECK CONDITION without sense data (autosense, §11.4.7)")
        if p.expdatasn != t.next_datasn and p.response == 0 and t.read_len and not t.r2ts:
            t.errors.append("SCSI Response ExpDataSN %d, %d Data-In sent (§11.4.8)" %
                            (p.expdatasn, t.next_datasn))
        t.done = True

    def dispatch(self, p):
        """Give a target PDU to its task (or to self.other)."""
        op = p.opcode
        t = self.tasks.get(p.itt)
        if op == OP_DATA_IN and t:
            self._on_datain(t, p)
        elif op == OP_R2T and t:
            self._on_r2t(t, p)
        elif op == OP_SCSI_RSP and t:
            self._on_rsp(t, p)
        elif op == OP_REJECT and len(p.data) >= 48:
            ritt = struct.unpack(">I", p.data[16:20])[0]
            rt = self.tasks.get(ritt)
            if rt and (p.data[0] & 0x3F) == OP_SCSI_CMD:
                rt.reject = p
                rt.done = True
            else:
                self.other.append(p)
        elif op == OP_NOP_IN and p.ttt != RSVD_TAG and self.auto_nop_reply:
            # a target ping: answer it (§11.19.2), immediate, same TTT
            self.other.append(p)
            self.send(nop_out(RSVD_TAG, p.ttt, self.cmdsn, self.expstatsn, b"",
                              lun=p.lun, immediate=True))
        else:
            if op in (OP_DATA_IN, OP_R2T, OP_SCSI_RSP):
                self.violations.append("%r for an unknown Initiator Task Tag" % p)
            self.other.append(p)

    def run(self, tasks, timeout=None, hold_r2t=False, hold_quiet=0.3):
        """Process PDUs until every task is done. hold_r2t: collect R2Ts and
        answer them only when MaxOutstandingR2T are pending or the target goes
        quiet for hold_quiet s (to see how many it issues at once). Raises
        socket.timeout / Closed."""
        tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        while not all(t.done for t in tasks):
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("tasks not done: %r" % [t for t in tasks if not t.done])
            wait = min(left, hold_quiet) if hold_r2t else left
            try:
                p = self.recv_pdu(wait)
            except (socket.timeout, TimeoutError):
                if hold_r2t:
                    for t in tasks:
                        self._answer_r2ts(t)
                    continue
                raise
            self.dispatch(p)
            for t in tasks:
                if t.pending_r2t and (not hold_r2t or
                                      len(t.pending_r2t) >= self.params.max_outstanding_r2t):
                    self._answer_r2ts(t)
        for t in tasks:
            self.tasks.pop(t.itt, None)
        return tasks

    def cmd(self, cdb, lun=0, read_len=0, write_data=None, timeout=None, hold_r2t=False, **kw):
        t = self.submit(cdb, lun, read_len, write_data, **kw)
        self.run(t, timeout, hold_r2t)
        return t

    def read(self, lun, lba, blocks, bs=512, **kw):
        return self.cmd(cdb_read10(lba, blocks), lun, read_len=blocks * bs, **kw)

    def write(self, lun, lba, data, bs=512, **kw):
        return self.cmd(cdb_write10(lba, len(data) // bs), lun, write_data=data, **kw)

    def wait_pdu(self, want, timeout=None):
        """Read until a PDU for which want(p) is true (others dispatched)."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        for i, p in enumerate(self.other):
            if want(p):
                return self.other.pop(i)
        while True:
            p = self.recv_pdu(max(0.01, deadline - time.time()))
            if want(p):
                return p
            self.dispatch(p)
            if time.time() > deadline:
                raise socket.timeout("no matching PDU")

    def nop(self, data=b"", immediate=False, lun=0, timeout=None):
        """NOP-Out ping; returns the NOP-In answer."""
        itt = self.next_itt()
        self.send(nop_out(itt, RSVD_TAG, self.take_cmdsn(immediate), self.expstatsn, data,
                          lun=lun, immediate=immediate))
        return self.wait_pdu(lambda p: p.opcode in (OP_NOP_IN, OP_REJECT) and
                             (p.itt == itt or p.opcode == OP_REJECT), timeout)

    def tmf(self, function, lun=0, ref_itt=RSVD_TAG, refcmdsn=0, immediate=True, timeout=None):
        itt = self.next_itt()
        self.send(tmf_req(itt, self.take_cmdsn(immediate), self.expstatsn, function, lun,
                          ref_itt, refcmdsn, 0, immediate))
        return self.wait_pdu(lambda p: p.opcode in (OP_TMF_RSP, OP_REJECT) and
                             (p.itt == itt or p.opcode == OP_REJECT), timeout)

    def text(self, keys, timeout=None):
        """Text Request/Response exchange incl. continuations (C bit,
        §11.10.2); returns (list of responses, all keys)."""
        itt = self.next_itt()
        ttt = RSVD_TAG
        rsps, kv = [], b""
        req = keys
        for _ in range(64):
            self.send(text_req(itt, ttt, self.take_cmdsn(), self.expstatsn, req))
            p = self.wait_pdu(lambda q: q.opcode in (OP_TEXT_RSP, OP_REJECT) and
                              (q.itt == itt or q.opcode == OP_REJECT), timeout)
            rsps.append(p)
            if p.opcode == OP_REJECT:
                break
            kv += p.data
            if p.final and not p.cont:
                if p.ttt != RSVD_TAG:
                    self.violations.append("final Text Response with TTT %08x (§11.11.4)" % p.ttt)
                break
            ttt = p.ttt
            req = b""
        return rsps, decode_keys(kv)

    def logout(self, reason=LOGOUT_CLOSE_SESSION, cid=None, timeout=None):
        itt = self.next_itt()
        self.send(logout_req(itt, self.take_cmdsn(), self.expstatsn, reason,
                             self.cid if cid is None else cid))
        return self.wait_pdu(lambda p: p.opcode in (OP_LOGOUT_RSP, OP_REJECT) and
                             (p.itt == itt or p.opcode == OP_REJECT), timeout)


def sn_gt(a, b):
    """Serial number arithmetic (RFC 1982, 32 bits): a > b."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


# ---------------------------------------------------------------- self-test

def self_test():
    # RFC 7143 Appendix B.4 CRC examples (bytes as transmitted)
    assert digest_bytes(bytes(32)) == bytes.fromhex("aa36918a"), digest_bytes(bytes(32)).hex()
    assert digest_bytes(b"\xff" * 32) == bytes.fromhex("43aba862")
    assert digest_bytes(bytes(range(32))) == bytes.fromhex("4e79dd46")
    assert digest_bytes(bytes(range(31, -1, -1))) == bytes.fromhex("5cdb3f11")
    assert crc32c(b"123456789") == 0xE3069283
    # key text
    k = encode_keys([("A", "1"), ("B", "x=y"), ("C", "")])
    assert k == b"A=1\0B=x=y\0C=\0", k
    assert decode_keys(k) == [("A", "1"), ("B", "x=y"), ("C", "")]
    # login request layout (§11.12)
    p = login_req(b"\x80\x12\x34\x56\x78\x9a", 7, 0x11223344, 5, 9, 3, 1, 3, True,
                  keys=[("K", "V")], vmax=0, vmin=0)
    b = p.encode()
    assert b[0] == 0x43 and b[1] == 0x87 and b[4] == 0 and b[5:8] == b"\0\0\x04"
    assert b[8:14] == b"\x80\x12\x34\x56\x78\x9a" and b[14:16] == b"\0\x07"
    assert b[16:20] == b"\x11\x22\x33\x44" and b[20:22] == b"\0\x05"
    assert b[24:28] == b"\0\0\0\x09" and b[28:32] == b"\0\0\0\x03"
    assert b[48:] == b"K=V\0" and len(b) == 52
    # digests framing: header digest after BHS, data padded then digest
    p = nop_out(1, RSVD_TAG, 2, 3, b"abcde")
    b = p.encode(True, True)
    assert len(b) == 48 + 4 + 8 + 4
    assert b[48:52] == digest_bytes(b[:48])
    assert b[52:60] == b"abcde\0\0\0" and b[60:64] == digest_bytes(b[52:60])
    # SCSI command with an extended CDB AHS (§11.2.2.3): 32-byte CDB
    cdb = bytes(range(1, 33))
    p = scsi_cmd(5, 1, 1, cdb, lun=3, edtl=512, read=True)
    b = p.encode()
    assert b[1] == 0xC1 and b[9] == 3 and b[32:48] == cdb[:16]
    assert b[4] == 5, b[4]                        # 20 bytes of AHS = 5 words
    assert b[48:52] == b"\x00\x11\x01\x00" and b[52:68] == cdb[16:]
    # parse back
    q = PDU(bhs=b[:48])
    assert q.opcode == OP_SCSI_CMD and q.itt == 5 and q.u32(20) == 512 and q.total_ahs_len == 5
    # Data-In with S/U (§11.7)
    d = target_pdu(OP_DATA_IN, 0x80 | 0x02 | 0x01, itt=9, statsn=4, expcmdsn=5, maxcmdsn=20)
    d.set_u32(36, 2)
    d.set_u32(40, 1024)
    d.set_u32(44, 512)
    q = PDU(bhs=d.encode()[:48])
    assert q.s_bit and q.u_bit and not q.o_bit and q.final and q.datasn == 2
    assert q.buffer_offset == 1024 and q.residual == 512 and q.statsn == 4
    # TMF / logout / text
    b = tmf_req(7, 1, 2, TMF_ABORT_TASK, lun=1, ref_itt=6, refcmdsn=0).encode()
    assert b[0] == 0x42 and b[1] == 0x81 and b[20:24] == b"\0\0\0\x06"
    b = logout_req(8, 1, 2, LOGOUT_CLOSE_CONNECTION, cid=3).encode()
    assert b[0] == 0x06 and b[1] == 0x81 and b[20:22] == b"\0\x03"
    b = text_req(9, RSVD_TAG, 1, 2, [("SendTargets", "All")]).encode()
    assert b[1] == 0x80 and b[20:24] == b"\xff" * 4 and b[48:] == b"SendTargets=All\0"
    # CHAP (RFC 1994): MD5(id || secret || challenge)
    assert chap_response(1, b"s", b"\x01\x02") == hashlib.md5(b"\x01s\x01\x02").digest()
    assert chap_decode("0x0102") == b"\x01\x02" and chap_decode("0bAQI=") == b"\x01\x02"
    # sense
    assert parse_sense(bytes([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0])) == (5, 0x24, 0)
    assert parse_sense(bytes([0x72, 6, 0x29, 3, 0, 0, 0, 0])) == (6, 0x29, 3)
    # negotiation rules
    assert check_negotiated({"MaxBurstLength": "4096"}, {"MaxBurstLength": "8192"})
    assert not check_negotiated({"MaxBurstLength": "8192"}, {"MaxBurstLength": "4096"})
    assert check_negotiated({"InitialR2T": "Yes"}, {"InitialR2T": "No"})
    assert check_negotiated({"ImmediateData": "No"}, {"ImmediateData": "Yes"})
    assert check_negotiated({"DefaultTime2Wait": "5"}, {"DefaultTime2Wait": "2"})
    assert sn_gt(1, 0xFFFFFFFF) and not sn_gt(0xFFFFFFFF, 1)
    assert pattern(1, 16) == struct.pack(">IIII", 1, 0, 1, 8)
    print("wire self-test ok")


if __name__ == "__main__":
    self_test()

#!/usr/bin/env python3
"""Black-box NVMe/TCP conformance and robustness test of nvmf_tgt.

Talks raw NVMe/TCP to the daemon through test/nvmf/nvme_tcp_client.py and
checks what the specifications say (NVM Express TCP Transport 1.0, NVMe Base
2.0 incl. the Fabrics command set, NVM Command Set 1.0), not what the
implementation happens to do: a disagreement is a FAIL line that names the
bytes or status seen and what the spec expects.

Sections: IC exchange, Connect, properties, Identify, log pages (discovery,
SMART, changed namespace list + AEN), features, I/O (in-capsule, R2T/H2CData,
C2HData, digests, Compare, Write Zeroes, DSM, Flush, fused, errors), protocol
robustness (bad PDUs, digests, bad H2CData, abrupt close, many connections, a
seeded fuzz loop; the daemon must keep serving a fresh connection after each)
and keep alive. Prints ok/FAIL per check and "N passed, N failed" last; exits
non-zero on failure. Only the daemon it started is stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the nvmf_tgt to test;
PROTO_FUZZ_SEED / PROTO_FUZZ_ITERS change the fuzz loop (default 1234 / 300);
PROTO_PORT_BASE fixes the three 127.0.0.1 ports used (BASE..BASE+2; by default
three free ports are picked at run time).
"""

import os
import random
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)
import osp_e2e  # noqa: E402
osp_e2e.TGT = os.path.join(osp_e2e.BIN_DIR, "nvmf_tgt")
from osp_e2e import check, start_tgt, stop_tgt, alive, rpc_out, rpc_json, wait_for, run  # noqa: E402
from osp_e2e import free_ports  # noqa: E402
from nvme_tcp_client import *  # noqa: E402,F401,F403

ADDR = "127.0.0.1"
# NQN1 and NQN2; the discovery listener; one added at run time (genctr).
PORT, DPORT, PORT_NEW = free_ports(3, "PROTO_PORT_BASE")
NQN1 = "nqn.2016-06.io.osprey:proto1"
NQN2 = "nqn.2016-06.io.osprey:proto2"
HOST1 = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
HOST2 = "nqn.2014-08.org.nvmexpress:uuid:66666666-7777-8888-9999-000000000000"
SN1, MN1 = "OSPPROTO0001", "Osprey Proto Model"
UUID2 = "5a1c3d2e-7f60-4b8a-9c0d-112233445566"
ICD_SIZE = 2048      # in_capsule_data_size: writes above it go through R2T
MAX_IO = 262144      # max_io_size: twice the 128 KiB io_unit_size (several C2HData PDUs)
BLK0, NB0 = 512, 8192     # Malloc0: 4 MiB of 512 B blocks -> nsid 1
BLK1, NB1 = 4096, 1024    # Malloc1: 4 MiB of 4 KiB blocks -> nsid 2
FUZZ_SEED = int(os.environ.get("PROTO_FUZZ_SEED", "1234"))
FUZZ_ITERS = int(os.environ.get("PROTO_FUZZ_ITERS", "300"))

S = {}   # shared state: the main controller, its I/O queue, Identify data


def section(name, fn, *args):
    print(name)
    sys.stdout.flush()
    try:
        fn(*args)
    except Exception as e:   # one broken section must not hide the others
        check(False, "%s: unexpected %s: %s" % (name, type(e).__name__, e))


def st(cpl):
    return "%s dnr %d cdw0 %08x" % (status_str(cpl.sct, cpl.sc), cpl.dnr, cpl.cdw0)


def expect(cpl, sct, sc, what):
    ok = cpl.sct == sct and cpl.sc == sc
    check(ok, "%s -> %s (got %s)" % (what, status_str(sct, sc), st(cpl)))
    return ok


def fresh_ok(what):
    """A well-behaved host still gets served: IC, Connect, CC.EN, Identify."""
    try:
        c, cpl = open_admin(ADDR, PORT, NQN1, HOST1, timeout=5)
        idc = c.identify(1)
        c.close()
        ok = cpl.ok and idc.ok and idc.data[4:4 + len(SN1)] == SN1.encode()
        detail = "%r %r" % (cpl, idc)
    except Exception as e:
        ok, detail = False, repr(e)
    check(ok, "  daemon still serves a fresh connection after: %s%s" %
          (what, "" if ok else " (%s)" % detail))


def expect_fatal(c, what, fes=None, fei=None, allow_close=True):
    """The target must end the connection: a C2HTermReq with FES/FEI (when
    given), or (allow_close) a plain close. Returns the TermReq or None."""
    kind, t = c.expect_close(3.0)
    c.close()
    if kind == "term":
        ok = (fes is None or t.fes in (fes if isinstance(fes, tuple) else (fes,))) and \
             (fei is None or t.fei == fei)
        exp = "" if fes is None else " FES %s%s" % (
            "/".join("%02xh" % f for f in (fes if isinstance(fes, tuple) else (fes,))),
            "" if fei is None else " FEI %d" % fei)
        check(ok, "%s -> C2HTermReq%s (got FES %02xh FEI %d, %d bytes of error data)" %
              (what, exp, t.fes, t.fei, len(t.err_data)))
        if not t.closed_after:
            check(False, "  %s: the target closes the connection after its C2HTermReq" % what)
        return t
    if kind == "closed":
        check(allow_close, "%s -> connection closed without C2HTermReq%s" %
              (what, "" if allow_close else " (spec wants a C2HTermReq)"))
        return None
    check(False, "%s -> connection must end; %s" % (what, t))
    return None


def new_ic(port=PORT, **kw):
    c = Conn(ADDR, port, timeout=5, **kw)
    c.icreq()
    return c


# ---------------------------------------------------------------- setup

def setup():
    p = start_tgt()
    # The daemon may log bytes a host sent (mutated NQNs in the fuzz loop are
    # not UTF-8); read its log tolerantly so the harness's final scan works.
    log = p.logfile
    p.logfile = open(log.name, "r", errors="replace")
    log.close()
    S["p"] = p
    ok = True
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc0", "4", str(BLK0)) == "Malloc0"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc1", "4", str(BLK1)) == "Malloc1"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc2", "1", "512") == "Malloc2"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc3", "1", "512") == "Malloc3"
    ok &= rpc_out("nvmf_create_transport", "-t", "tcp", "-c", str(ICD_SIZE),
                  "-i", str(MAX_IO)) is not None
    ok &= rpc_out("nvmf_create_subsystem", NQN1, "-a", "-s", SN1, "-d", MN1) is not None
    ok &= rpc_out("nvmf_subsystem_add_ns", NQN1, "Malloc0") is not None
    ok &= rpc_out("nvmf_subsystem_add_ns", NQN1, "Malloc1", "-u", UUID2) is not None
    ok &= rpc_out("nvmf_create_subsystem", NQN2, "-s", "OSPPROTO0002") is not None
    ok &= rpc_out("nvmf_subsystem_add_host", NQN2, HOST1) is not None
    ok &= rpc_out("nvmf_subsystem_add_ns", NQN2, "Malloc3") is not None
    for nqn, port in ((NQN1, PORT), (NQN2, PORT), ("discovery", DPORT)):
        ok &= rpc_out("nvmf_subsystem_add_listener", nqn, "-t", "tcp", "-f", "ipv4",
                      "-a", ADDR, "-s", str(port)) is not None
    check(ok, "setup: nvmf_tgt -m 0x1, 4 malloc bdevs (512 B and 4 KiB blocks), TCP "
          "transport with in_capsule_data_size %d, %s (any host) + %s (allow list), "
          "listeners %d/%d" % (ICD_SIZE, NQN1, NQN2, PORT, DPORT))
    return ok


# ---------------------------------------------------------------- IC

def test_ic():
    for dg, name in ((3, "header+data"), (0, "no"), (1, "header"), (2, "data")):
        c = Conn(ADDR, PORT, hdgst=bool(dg & 1), ddgst=bool(dg & 2))
        r = c.icreq()
        c.close()
        if dg == 3:
            check(r["pfv"] == 0, "ICResp PFV 0 (got %d)" % r["pfv"])
            check(r["hlen"] == 128 and r["plen"] == 128 and r["pdo"] == 0 and
                  r["flags"] == 0, "ICResp HLEN 128 PLEN 128 PDO 0 FLAGS 0 (got %d %d %d %x)" %
                  (r["hlen"], r["plen"], r["pdo"], r["flags"]))
            check(r["cpda"] <= 31, "ICResp CPDA <= 31 (got %d)" % r["cpda"])
            check(r["maxh2cdata"] >= 4096 and r["maxh2cdata"] % 4 == 0,
                  "ICResp MAXH2CDATA >= 4096 and a multiple of 4 (got %d)" % r["maxh2cdata"])
        check(r["dgst"] == dg, "ICReq asking %s digests -> ICResp DGST %d (got %d)" %
              (name, dg, r["dgst"]))

    # HPDA honoured: C2H data aligned to (HPDA+1)*4 (checked by the client's PDO check)
    try:
        c = Conn(ADDR, PORT, hpda=7)
        c.icreq()
        cpl = c.connect(NQN1, HOST1)
        c.enable()
        idc = c.identify(1)
        check(idc.ok and len(idc.data) == 4096,
              "HPDA 7: C2HData PDO is a multiple of 32 and Identify data arrives (%r)" % idc)
        c.close()
    except ProtoError as e:
        check(False, "HPDA 7: %s" % e)

    c = Conn(ADDR, PORT)
    c.send(icreq_bytes(pfv=1))
    expect_fatal(c, "ICReq PFV 1", FES_UNSUPPORTED_PARAM, 8)
    fresh_ok("ICReq PFV 1")
    c = Conn(ADDR, PORT)
    c.send(icreq_bytes(hpda=32))
    expect_fatal(c, "ICReq HPDA 32", FES_INVALID_HEADER_FIELD, 10)
    fresh_ok("ICReq HPDA 32")
    c = Conn(ADDR, PORT)
    c.send(icreq_bytes(plen=132) + bytes(4))
    expect_fatal(c, "ICReq PLEN 132", FES_INVALID_HEADER_FIELD, 4)
    c = Conn(ADDR, PORT)
    c.send(icreq_bytes(hlen=120, plen=128))
    expect_fatal(c, "ICReq HLEN 120", FES_INVALID_HEADER_FIELD, 2)
    fresh_ok("ICReq with a wrong PLEN / HLEN")
    c = Conn(ADDR, PORT)
    c.send(pdu_bytes(CAPSULE_CMD, 0, connect_sqe(1, 0, 31), connect_data(NQN1, HOST1)))
    expect_fatal(c, "CapsuleCmd before ICReq", FES_PDU_SEQUENCE)
    fresh_ok("CapsuleCmd before ICReq")
    c = new_ic()
    c.send(icreq_bytes())
    expect_fatal(c, "a second ICReq", FES_PDU_SEQUENCE)
    fresh_ok("a second ICReq")


# ---------------------------------------------------------------- Connect

def test_connect():
    c = new_ic()
    cpl = c.connect("nqn.2016-06.io.osprey:nope", HOST1)
    expect(cpl, 1, 0x82, "Connect to an unknown SUBNQN")
    # NVMe-oF Connect response: IPO in bits 15:0, IATTR in bits 23:16.
    iattr, ipo = (cpl.cdw0 >> 16) & 0xFF, cpl.cdw0 & 0xFFFF
    check(iattr == 1 and ipo == 256, "  IATTR 1 (Connect data) IPO 256 (SUBNQN) "
          "(got IATTR %d IPO %d)" % (iattr, ipo))
    c.close()

    c = new_ic()
    expect(c.connect(NQN2, HOST2), 1, 0x84, "Connect of a host not on %s's allow list" % NQN2)
    c.close()
    c = new_ic()
    cpl = c.connect(NQN2, HOST1)
    check(cpl.ok, "Connect of the allowed host to %s (%s)" % (NQN2, st(cpl)))
    c.close()

    c = new_ic()
    cpl = c.cmd(fabrics_sqe(FCT_PROP_GET, 5, struct.pack("<B3xI", 1, CAP)))
    expect(cpl, 0, 0x0C, "Property Get before Connect")
    c.close()
    c = new_ic()
    cpl = c.cmd(sqe(ADM_IDENTIFY, 6, 0, 1, sgl_len=4096), read_len=4096)
    expect(cpl, 0, 0x0C, "Identify before Connect")
    c.close()

    a, cpl = open_admin(ADDR, PORT, NQN1, HOST1, enable=False)
    check(cpl.ok and 1 <= (cpl.cdw0 & 0xFFFF) <= 0xFFEF,
          "admin Connect (CNTLID FFFFh) -> success, CNTLID in CQE dword 0 (%s)" % st(cpl))
    b, cpl2 = open_admin(ADDR, PORT, NQN1, HOST1, enable=False)
    check(cpl2.ok and (cpl2.cdw0 & 0xFFFF) != (cpl.cdw0 & 0xFFFF),
          "dynamic controller model: two Connects get different CNTLIDs (%d, %d)" %
          (cpl.cdw0 & 0xFFFF, cpl2.cdw0 & 0xFFFF))
    b.close()
    # I/O queue before CC.EN = 1: Command Sequence Error (Base §3.3.2.1? Fabrics Connect)
    io, icpl = open_io(ADDR, PORT, NQN1, HOST1, a.cntlid)
    expect(icpl, 0, 0x0C, "I/O queue Connect before CC.EN = 1 (Command Sequence Error)")
    io.close()
    a.enable()
    check(a.prop_get(CSTS).cdw0 & 1 == 1, "CC.EN = 1 -> CSTS.RDY = 1")
    S["admin"] = a
    io, icpl = open_io(ADDR, PORT, NQN1, HOST1, a.cntlid)
    check(icpl.ok, "I/O queue 1 Connect with that CNTLID -> success (%s)" % st(icpl))
    S["io"] = io
    bad, bcpl = open_io(ADDR, PORT, NQN1, HOST1, (a.cntlid + 100) & 0xFFFF, qid=2)
    expect(bcpl, 1, 0x82, "I/O queue Connect to a CNTLID that does not exist")
    check((bcpl.cdw0 >> 16) & 0xFF == 1 and bcpl.cdw0 & 0xFFFF == 16,
          "  IATTR 1 IPO 16 (CNTLID) (got IATTR %d IPO %d)" % ((bcpl.cdw0 >> 16) & 0xFF,
                                                               bcpl.cdw0 & 0xFFFF))
    bad.close()
    dup, dcpl = open_io(ADDR, PORT, NQN1, HOST1, a.cntlid, qid=1)
    check(not dcpl.ok, "a second I/O queue with QID 1 is refused (%s)" % st(dcpl))
    dup.close()
    other, ocpl = open_io(ADDR, PORT, NQN1, HOST2, a.cntlid, qid=3)
    check(not ocpl.ok, "I/O queue Connect with another HOSTNQN than the controller's "
          "is refused (%s)" % st(ocpl))
    other.close()
    c = new_ic()
    cpl = c.cmd(connect_sqe(c.alloc_cid(), 0, 31, recfmt=1), connect_data(NQN1, HOST1),
                icd=True)
    expect(cpl, 1, 0x80, "Connect with RECFMT 1 (Connect Incompatible Format)")
    c.close()
    c = new_ic()
    cpl = c.connect(NQN1 + "x" * 230, HOST1)
    check(cpl.is_(1, 0x82) and cpl.cdw0 == (1 << 16) | 256,
          "Connect with a 255-byte SUBNQN (above 223) -> Connect Invalid Parameters IATTR 1 IPO 256 (%s)" %
          st(cpl))
    c.close()
    x, xcpl = open_io(ADDR, PORT, NQN1, HOST1, a.cntlid, qid=1000)
    check(xcpl.is_(1, 0x82) and xcpl.cdw0 == 42,
          "I/O queue Connect with QID 1000 (above the queues allowed) -> Connect Invalid "
          "Parameters IATTR 0 IPO 42 (%s)" % st(xcpl))
    x.close()
    x = new_ic()
    xcpl = x.connect(NQN1, HOST1, qid=5, sqsize=4096, cntlid=a.cntlid)
    check(xcpl.is_(1, 0x82) and xcpl.cdw0 == 44,
          "I/O queue Connect with SQSIZE 4096 (above CAP.MQES) -> Connect Invalid Parameters "
          "IATTR 0 IPO 44 (%s)" % st(xcpl))
    x.close()
    # A HOSTNQN that is not an NQN (Base §4.5: UTF-8, "nqn." form): the host
    # must not get a controller whose host NQN then corrupts RPC output/logs.
    c = new_ic()
    d = bytearray(connect_data(NQN1, "x"))
    d[512:520] = b"nqn.\xff\xfe\x01:"
    cpl = c.cmd(connect_sqe(c.alloc_cid(), 0, 31), bytes(d), icd=True)
    check(cpl.is_(1, 0x82) and cpl.cdw0 == (1 << 16) | 512,
          "Connect with HOSTNQN 'nqn.\\xff\\xfe\\x01:' (not UTF-8, not an NQN) -> Connect "
          "Invalid Parameters IATTR 1 IPO 512 (got %s)" % st(cpl))
    try:
        r = osp_e2e.rpc("nvmf_subsystem_get_controllers", NQN1)
        json_ok = r.returncode == 0
        detail = (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]
        detail = detail[0][:200]
    except UnicodeDecodeError as e:
        json_ok, detail = False, "the reply is not UTF-8: %s" % e
    check(json_ok, "nvmf_subsystem_get_controllers answers valid JSON while that host is "
          "connected (%s)" % ("ok" if json_ok else detail))
    c.close()

    def ctrls_readable():
        try:
            return osp_e2e.rpc("nvmf_subsystem_get_controllers", NQN1).returncode == 0
        except UnicodeDecodeError:
            return False
    wait_for(ctrls_readable, 10)

    c = new_ic()
    cpl = c.connect(NQN1, HOST1, qid=0, sqsize=0)
    check(cpl.is_(1, 0x82) and (cpl.cdw0 >> 16) & 0xFF == 0 and cpl.cdw0 & 0xFFFF == 44,
          "admin Connect with SQSIZE 0 -> Connect Invalid Parameters IATTR 0 IPO 44 (%s)" %
          st(cpl))
    c.close()


# ---------------------------------------------------------------- SPDK perf's Connect

def test_empty_hostnqn():
    """SPDK's spdk_nvme_perf, run without a host NQN, sends Connect with an
    empty HOSTNQN: a subsystem that allows any host serves it (as SPDK's and
    the kernel's targets do), one with an allow list refuses it as an invalid
    host (84h), and every refused Connect is logged with its reason."""
    a, cpl = open_admin(ADDR, PORT, NQN1, "")
    check(cpl.ok, "admin Connect with an empty HOSTNQN to %s (any host) -> success (%s)"
          % (NQN1, st(cpl)))
    if not cpl.ok:
        a.close()
        return
    io, icpl = open_io(ADDR, PORT, NQN1, "", a.cntlid)
    check(icpl.ok, "I/O queue Connect with an empty HOSTNQN -> success (%s)" % st(icpl))
    if icpl.ok:
        data = pattern(4096, 77)
        w = io.write(1, 4000, data, BLK0, icd=False)
        r = io.read(1, 4000, 8, BLK0)
        check(w.ok and r.ok and r.data == data,
              "write then read 4 KiB on that queue: same bytes (%s, %s)" % (st(w), st(r)))
    io.close()
    a.close()
    c = new_ic()
    expect(c.connect(NQN2, ""), 1, 0x84,
           "Connect with an empty HOSTNQN to %s (allow list) -> Connect Invalid Host" % NQN2)
    c.close()
    log = ""
    end = time.time() + 5
    want = ("Connect refused", "empty host NQN", "peer 127.0.0.1:", NQN2, "hostnqn ''")
    while time.time() < end:
        log = osp_e2e.tgt_log(S["p"])
        if any(all(w in line for w in want) for line in log.splitlines()):
            break
        time.sleep(0.1)
    check(any(all(w in line for w in want) for line in log.splitlines()),
          "the refusal is logged with its reason, the peer address and both NQNs")
    check(any("Connect refused" in line and "no such subsystem" in line and
              "nqn.2016-06.io.osprey:nope" in line for line in log.splitlines()),
          "the earlier Connect to an unknown subsystem was logged too")


# ---------------------------------------------------------------- properties

def test_properties():
    a = S["admin"]
    cap = a.prop_get(CAP)
    v = cap.value
    mqes, cqr, to, css, mpsmin = v & 0xFFFF, (v >> 16) & 1, (v >> 24) & 0xFF, \
        (v >> 37) & 0xFF, (v >> 48) & 0xF
    check(cap.ok and mqes >= 1 and cqr == 1 and to > 0 and css & 1 and mpsmin == 0,
          "CAP: MQES %d >= 1, CQR 1 (%d), TO %d > 0, CSS NVM (%x), MPSMIN 0 (%d)" %
          (mqes, cqr, to, css, mpsmin))
    vs = a.prop_get(VS)
    check(vs.ok and vs.cdw0 >> 16 == 1 and (vs.cdw0 >> 8) & 0xFF >= 2,
          "VS >= 1.2 (got %08x)" % vs.cdw0)
    cc = a.prop_get(CC)
    check(cc.ok and cc.cdw0 & 1, "CC reads back EN = 1 (%08x)" % cc.cdw0)
    cpl = a.prop_get(0x1000)
    check(not cpl.ok, "Property Get of an undefined offset 1000h fails (%s)" % st(cpl))
    cpl = a.prop_set(CAP, 0, size8=True)
    check(not cpl.ok, "Property Set of read-only CAP fails (%s)" % st(cpl))

    # a second controller: CC.EN 0 -> RDY 0 before, shutdown -> SHST 2
    b, cpl = open_admin(ADDR, PORT, NQN1, HOST1, enable=False)
    check(b.prop_get(CSTS).cdw0 & 1 == 0 and b.prop_get(CC).cdw0 == 0,
          "new controller: CC 0, CSTS.RDY 0")
    b.enable()
    check(b.prop_get(CSTS).cdw0 & 1 == 1, "CC.EN 1 -> CSTS.RDY 1")
    ccv = b.prop_get(CC).cdw0
    b.prop_set(CC, ccv | (1 << 14))  # SHN = 01b normal shutdown
    shst = None
    end = time.time() + 5
    while time.time() < end:
        shst = (b.prop_get(CSTS).cdw0 >> 2) & 3
        if shst == 2:
            break
        time.sleep(0.02)
    check(shst == 2, "CC.SHN = 01b -> CSTS.SHST = 10b (shutdown complete) (got %s)" % shst)
    b.close()


# ---------------------------------------------------------------- Identify

def test_identify():
    a = S["admin"]
    idc = a.identify(1)
    d = idc.data
    S["idctrl"] = d
    check(idc.ok and len(d) == 4096, "Identify Controller: 4096 bytes (%r)" % idc)
    sn, mn = d[4:24], d[24:64]
    check(sn == SN1.encode().ljust(20), "SN = %r space padded (got %r)" % (SN1, sn))
    check(mn == MN1.encode().ljust(40), "MN = %r space padded (got %r)" % (MN1, mn))
    subnqn = d[768:1024].split(b"\0")[0].decode(errors="replace")
    check(subnqn == NQN1, "SUBNQN = %s (got %r)" % (NQN1, subnqn))
    cntlid = struct.unpack_from("<H", d, 78)[0]
    check(cntlid == a.cntlid, "CNTLID = the Connect's %d (got %d)" % (a.cntlid, cntlid))
    ioccsz, iorcsz, icdoff, fcatt, msdbd = struct.unpack_from("<IIHBB", d, 1792)
    check(ioccsz == (ICD_SIZE + 64) // 16,
          "IOCCSZ = (in_capsule_data_size + 64) / 16 = %d (got %d)" %
          ((ICD_SIZE + 64) // 16, ioccsz))
    check(iorcsz == 1 and icdoff == 0 and fcatt & 1 == 0 and msdbd >= 1,
          "IORCSZ 1, ICDOFF 0, FCATT dynamic, MSDBD >= 1 (got %d %d %d %d)" %
          (iorcsz, icdoff, fcatt, msdbd))
    mdts = d[77]
    check(0 < mdts and (4096 << mdts) <= MAX_IO,
          "MDTS set and within max_io_size %d (got %d = %d bytes)" %
          (MAX_IO, mdts, 4096 << mdts))
    nn = struct.unpack_from("<I", d, 516)[0]
    check(nn >= 2, "NN >= 2 (got %d)" % nn)
    check(d[111] == 1, "CNTRLTYPE 1 (I/O controller) (got %d)" % d[111])
    kas = struct.unpack_from("<H", d, 320)[0]
    check(kas > 0, "KAS > 0: keep alive supported, required on fabrics (got %d)" % kas)
    sgls = struct.unpack_from("<I", d, 536)[0]
    check(sgls & 3 and sgls & (1 << 20),
          "SGLS: SGLs supported, address as offset (got %08x)" % sgls)
    check(d[512] == 0x66 and d[513] == 0x44, "SQES 66h CQES 44h (got %02x %02x)" %
          (d[512], d[513]))
    oncs = struct.unpack_from("<H", d, 520)[0]
    fuses = struct.unpack_from("<H", d, 522)[0]
    check(oncs & 0x0D == 0x0D and fuses & 1, "ONCS compare, DSM, write zeroes (%04x); "
          "FUSES compare and write (%04x)" % (oncs, fuses))
    S["ioccsz"] = ioccsz
    S["io"].max_icd = ioccsz * 16 - 64

    for nsid, nb, bs in ((1, NB0, BLK0), (2, NB1, BLK1)):
        r = a.identify(0, nsid=nsid)
        nsze, ncap = struct.unpack_from("<QQ", r.data, 0)
        flbas = r.data[26] & 0xF
        lbads = r.data[128 + 4 * flbas + 2]
        check(r.ok and nsze == nb and ncap == nb and lbads == bs.bit_length() - 1,
              "Identify Namespace %d: NSZE = NCAP = %d blocks, LBA data size 2^%d (got "
              "NSZE %d NCAP %d LBADS %d)" % (nsid, nb, bs.bit_length() - 1, nsze, ncap, lbads))
    r = a.identify(2, nsid=0)
    ids = [x for x in struct.unpack("<1024I", r.data) if x]
    check(r.ok and ids == [1, 2], "active namespace list: [1, 2] (got %s)" % ids[:8])
    r = a.identify(2, nsid=1)
    ids = [x for x in struct.unpack("<1024I", r.data) if x]
    check(r.ok and ids == [2], "active namespace list above nsid 1: [2] (got %s)" % ids[:8])
    r = a.identify(3, nsid=2)
    descs, off = {}, 0
    while r.ok and off + 4 <= 4096 and r.data[off]:
        nidt, nidl = r.data[off], r.data[off + 1]
        descs[nidt] = r.data[off + 4:off + 4 + nidl]
        off += 4 + nidl
    want = bytes.fromhex(UUID2.replace("-", ""))
    check(descs.get(3) == want, "NS identification descriptors of nsid 2 hold the UUID given "
          "with --uuid (got %s)" % {k: v.hex() for k, v in descs.items()})
    r = a.identify(0, nsid=7)
    check(r.ok and r.data == bytes(4096), "Identify Namespace of inactive nsid 7 (<= NN): "
          "zero-filled (%s)" % st(r))
    r = a.identify(0, nsid=0xFFFFFFFF - 5)
    expect(r, 0, 0x0B, "Identify Namespace of nsid FFFFFFFAh (above NN)")
    r = a.admin(0x3C)
    expect(r, 0, 0x01, "reserved admin opcode 3Ch")


# ---------------------------------------------------------------- log pages

def discovery_log(hostnqn):
    d, cpl = open_admin(ADDR, DPORT, DISCOVERY_NQN, hostnqn)
    if not cpl.ok:
        d.close()
        raise ProtoError("discovery Connect failed: %r" % cpl)
    h = d.get_log(0x70, 1024)
    if not h.ok:
        d.close()
        raise ProtoError("discovery log header: %r" % h)
    genctr, numrec, recfmt = struct.unpack_from("<QQH", h.data, 0)
    full = d.get_log(0x70, 1024 * (numrec + 1)) if numrec else h
    entries = []
    for i in range(numrec):
        e = full.data[1024 * (i + 1):1024 * (i + 2)]
        entries.append({"trtype": e[0], "adrfam": e[1], "subtype": e[2],
                        "trsvcid": e[32:64].decode(errors="replace").strip(" \0"),
                        "subnqn": e[256:512].split(b"\0")[0].decode(errors="replace"),
                        "traddr": e[512:768].decode(errors="replace").strip(" \0")})
    idc = d.identify(1)
    d.close()
    return genctr, entries, idc.data


def test_logs():
    a = S["admin"]
    g1, ents, idd = discovery_log(HOST2)
    check(idd[111] == 2, "discovery controller: Identify CNTRLTYPE 2 (got %d)" % idd[111])
    subs = sorted(set(e["subnqn"] for e in ents))
    check(subs == [NQN1], "discovery log for %s (not allowed on %s) lists only %s (got %s)" %
          (HOST2[-12:], NQN2, NQN1, subs))
    e = ents[0] if ents else {}
    check(e.get("trtype") == 3 and e.get("adrfam") == 1 and e.get("subtype") == 2 and
          e.get("traddr") == ADDR and e.get("trsvcid") == str(PORT),
          "entry: TRTYPE 3 (TCP), ADRFAM 1, SUBTYPE 2, TRADDR %s, TRSVCID %d (got %s)" %
          (ADDR, PORT, e))
    g1b, ents1, _ = discovery_log(HOST1)
    subs1 = sorted(set(x["subnqn"] for x in ents1))
    check(subs1 == sorted([NQN1, NQN2]), "discovery log for the allowed host lists both "
          "subsystems (got %s)" % subs1)
    rpc_out("nvmf_subsystem_add_listener", NQN1, "-t", "tcp", "-f", "ipv4", "-a", ADDR,
            "-s", str(PORT_NEW))
    g2, ents2, _ = discovery_log(HOST2)
    check(g2 != g1, "GENCTR changes after adding a listener (%d -> %d)" % (g1, g2))
    check(sorted(x["trsvcid"] for x in ents2) == sorted([str(PORT), str(PORT_NEW)]),
          "the new listener %d is listed (got %s)" % (PORT_NEW, [x["trsvcid"] for x in ents2]))

    r = a.get_log(0x02, 512)
    check(r.ok and len(r.data) == 512, "SMART / Health log: 512 bytes (%s, %d bytes)" %
          (st(r), len(r.data)))
    r = a.get_log(0x02, 64, offset=1024)
    expect(r, 0, 0x02, "SMART log with offset 1024 beyond the 512-byte page")
    r = a.get_log(0x70, 1024)
    check(not r.ok, "discovery log page on an I/O controller is refused (%s)" % st(r))
    r = a.get_log(0xBF, 512)
    expect(r, 1, 0x09, "Get Log Page of an unsupported LID BFh (Invalid Log Page)")

    r = a.get_log(0x02, 64, offset=2)
    expect(r, 0, 0x02, "Get Log Page with a log page offset that is not dword aligned")
    d, cpl = open_admin(ADDR, DPORT, DISCOVERY_NQN, HOST1)
    full = d.get_log(0x70, 3 * 1024)
    part = d.get_log(0x70, 1024, offset=1536)
    check(full.ok and part.ok and part.data == full.data[1536:2560],
          "discovery log read in pieces (offset 1536) matches the whole (%s)" % st(part))
    idd = d.identify(1).data
    check(idd[768:1024].split(b"\0")[0] == DISCOVERY_NQN.encode(),
          "discovery controller Identify SUBNQN is the discovery NQN (got %r)" %
          idd[768:800])
    r = d.admin(IO_READ)
    check(not r.ok, "discovery controller refuses an I/O-only admin opcode (%s)" % st(r))
    d.close()

    # AERL + 1 AERs may be outstanding; one more -> AER Limit Exceeded
    b, cpl = open_admin(ADDR, PORT, NQN1, HOST1)
    aerl = S["idctrl"][259]
    cids = [b.submit_aer() for _ in range(aerl + 2)]
    try:
        extra = b.wait(cids[-1], timeout=2)
        expect(extra, 1, 0x05, "AER number %d with AERL %d (Asynchronous Event Request Limit "
               "Exceeded)" % (aerl + 2, aerl))
    except socket.timeout:
        check(False, "AER number %d with AERL %d completes with AER Limit Exceeded (no "
              "completion in 2 s)" % (aerl + 2, aerl))
    b.close()

    # changed namespace list + AEN
    cpl = a.set_features(0x0B, 1 << 8)
    check(cpl.ok, "Set Features Asynchronous Event Configuration: namespace attribute "
          "notices (%s)" % st(cpl))
    cid = a.submit_aer()
    a.get_log(0x04, 4096)          # clear whatever is pending
    nsid = osp_e2e.raw_call("nvmf_subsystem_add_ns",
                            {"nqn": NQN1, "namespace": {"bdev_name": "Malloc2"}}).get("result")
    try:
        aen = a.wait(cid, timeout=5)
        etype, einfo, lid = aen.cdw0 & 7, (aen.cdw0 >> 8) & 0xFF, (aen.cdw0 >> 16) & 0xFF
        check(aen.ok and etype == 2 and einfo == 0 and lid == 4,
              "adding nsid %s at run time completes the AER with Notice / Namespace "
              "Attribute Changed / log 04h (got %s: type %d info %d lid %02x)" %
              (nsid, st(aen), etype, einfo, lid))
    except socket.timeout:
        check(False, "adding a namespace at run time completes the outstanding AER within 5 s")
    r = a.get_log(0x04, 4096)
    ids = [x for x in struct.unpack("<1024I", r.data) if x] if r.ok else None
    check(r.ok and nsid is not None and ids == [int(nsid)],
          "Changed Namespace List log holds [%s] (got %s)" % (nsid, ids))
    r = a.get_log(0x04, 4096)
    ids = [x for x in struct.unpack("<1024I", r.data) if x] if r.ok else None
    check(ids == [], "Changed Namespace List is empty after being read (got %s)" % ids)
    r = a.identify(2, nsid=0)
    ids = [x for x in struct.unpack("<1024I", r.data) if x]
    check(ids == [1, 2, int(nsid or 0)], "active namespace list now %s (got %s)" %
          ([1, 2, nsid], ids))


# ---------------------------------------------------------------- features

def test_features():
    a = S["admin"]
    r = a.get_features(0x07)
    check(r.ok, "Get Features Number of Queues (%s: NSQA %d NCQA %d)" %
          (st(r), r.cdw0 & 0xFFFF, r.cdw0 >> 16))
    b, cpl = open_admin(ADDR, PORT, NQN1, HOST1)
    r = b.set_features(0x07, (3 << 16) | 3)
    check(r.ok and (r.cdw0 & 0xFFFF) >= 3 and (r.cdw0 >> 16) >= 3,
          "Set Features Number of Queues 4/4 on a new controller: allocated >= requested "
          "(%s)" % st(r))
    b.close()
    r = a.set_features(0x0F, 30000)
    r2 = a.get_features(0x0F)
    check(r.ok and r2.ok and r2.cdw0 >= 30000,
          "Keep Alive Timer: Set 30000 ms, Get returns >= 30000 (%s / %s)" % (st(r), st(r2)))
    kas = struct.unpack_from("<H", S["idctrl"], 320)[0]
    r = a.set_features(0x0F, 1500)
    r2 = a.get_features(0x0F)
    gran = kas * 100
    check(r.ok and r2.ok and gran and r2.cdw0 >= 1500 and r2.cdw0 % gran == 0,
          "KATO 1500 ms reads back rounded up to the KAS granularity of %d ms (%s)"
          % (gran, r2.cdw0))
    # KATO 0 turns keep alive off again: the later sections (fuzz) run longer
    # than 30 s without Keep Alive commands on this controller.
    r = a.set_features(0x0F, 0)
    r2 = a.get_features(0x0F)
    check(r.ok and r2.ok and r2.cdw0 == 0, "Keep Alive Timer: Set 0 (disabled), Get returns 0 "
          "(%s / %s)" % (st(r), st(r2)))
    vwc = S["idctrl"][525] & 1
    r = a.get_features(0x06)
    if vwc:
        check(r.ok, "Get Features Volatile Write Cache (VWC present) (%s)" % st(r))
    else:
        # Without a cache the feature is either unsupported (Invalid Field) or
        # reads as disabled; it can never read as enabled.
        check(r.is_(0, 0x02) or (r.ok and r.cdw0 & 1 == 0),
              "Get Features Volatile Write Cache with VWC 0: Invalid Field or WCE 0 (%s)" %
              st(r))
        r = a.set_features(0x06, 1)
        r2 = a.get_features(0x06)
        check(not r.ok and not (r2.ok and r2.cdw0 & 1),
              "Set Features Volatile Write Cache WCE 1 with VWC 0 is refused and WCE stays 0 "
              "(%s / %s)" % (st(r), st(r2)))
    r = a.get_features(0x50)
    expect(r, 0, 0x02, "Get Features of reserved FID 50h")
    r = a.set_features(0x50, 1)
    expect(r, 0, 0x02, "Set Features of reserved FID 50h")
    r = a.set_features(0x07, (3 << 16) | 3)
    expect(r, 0, 0x0C, "Set Features Number of Queues after an I/O queue exists")


# ---------------------------------------------------------------- I/O

def pattern(n, seed):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n)) if n <= 4096 else \
        (bytes(rnd.getrandbits(8) for _ in range(4096)) * (n // 4096 + 1))[:n]


def test_io():
    io = S["io"]
    data = pattern(2048 - 64 if ICD_SIZE >= 2048 else ICD_SIZE, 1)[:1536]
    r0 = io.r2ts
    w = io.write(1, 0, data, BLK0, icd=True)
    check(w.ok and io.r2ts == r0, "Write 3 blocks with in-capsule data, no R2T (%s)" % st(w))
    r = io.read(1, 0, 3, BLK0)
    check(r.ok and r.data == data, "Read back the in-capsule write: same bytes (%s)" % st(r))

    big = pattern(65536, 2)
    io.h2c_chunk = 8192
    r0, h0 = io.r2ts, io.h2c_pdus
    w = io.write(1, 64, big, BLK0, icd=False)
    check(w.ok and io.r2ts > r0 and io.h2c_pdus - h0 >= 8,
          "Write 64 KiB through R2T in %d H2CData PDUs of 8 KiB (%d R2T) (%s)" %
          (io.h2c_pdus - h0, io.r2ts - r0, st(w)))
    c0 = io.c2h_pdus
    r = io.read(1, 64, 128, BLK0)
    check(r.ok and r.data == big, "Read 64 KiB back (%d C2HData PDUs): same bytes (%s)" %
          (io.c2h_pdus - c0, st(r)))
    big2 = pattern(131072, 3)
    w = io.write(2, 8, big2, BLK1, icd=False)
    c0 = io.c2h_pdus
    r = io.read(2, 8, 32, BLK1)
    check(w.ok and r.ok and r.data == big2,
          "4 KiB-block namespace: write and read back 128 KiB (%d C2HData PDUs) (%s / %s)" %
          (io.c2h_pdus - c0, st(w), st(r)))
    io.h2c_chunk = None
    big3 = pattern(MAX_IO, 15)
    r0 = io.r2ts
    w = io.write(2, 100, big3, BLK1, icd=False)
    c0 = io.c2h_pdus
    r = io.read(2, 100, MAX_IO // BLK1, BLK1)
    check(w.ok and r.ok and r.data == big3,
          "max_io_size write (%d R2T, MAXH2CDATA %d) and read (%d C2HData PDUs): same bytes "
          "(%s / %s)" % (io.r2ts - r0, io.maxh2cdata, io.c2h_pdus - c0, st(w), st(r)))
    check(io.r2ts - r0 >= MAX_IO // io.maxh2cdata,
          "  each R2T asks for at most MAXH2CDATA (%d R2Ts for %d bytes)" %
          (io.r2ts - r0, MAX_IO))
    check(io.c2h_pdus - c0 >= 2, "  the read spans several C2HData PDUs (%d)" %
          (io.c2h_pdus - c0))
    check(not any(p.type == C2H_DATA and p.flags & F_SUCCESS for p in io.others),
          "no C2HData SUCCESS flag on a queue with SQ flow control enabled")

    # SQHD: with SQ flow control on, each CQE reports the SQ head (Base, Fabrics
    # "SQ flow control"; it must move as commands are consumed).
    cpls = [io.flush(1) for _ in range(5)]
    heads = [c_.sqhd for c_ in cpls]
    check(all(c_.sqid == io.qid for c_ in cpls), "CQE SQID = the queue's QID %d (got %s)" %
          (io.qid, [c_.sqid for c_ in cpls]))
    check(len(set(heads)) > 1, "SQHD advances in CQEs of a queue with SQ flow control "
          "(got %s)" % heads)

    # CATTR bit 2 asks to disable SQ flow control. The controller agrees by
    # answering the Connect with SQHD FFFFh (Base 2.0 Connect, TP 8005); only
    # then may C2HData carry SUCCESS in place of a CapsuleResp (TCP C2HData).
    f = Conn(ADDR, PORT, timeout=5)
    f.icreq()
    fcpl = f.connect(NQN1, HOST1, qid=5, sqsize=31, cntlid=S["admin"].cntlid, cattr=4)
    fr = f.read(1, 64, 8, BLK0)
    fc_off = fcpl.sqhd == 0xFFFF
    check(fcpl.ok and fr.ok and fr.data == big[:4096] and (fc_off or not fr.c2h_success),
          "Connect with CATTR SQ flow control disable: Connect SQHD %04xh (%s), read answered "
          "%s" % (fcpl.sqhd, "disabled" if fc_off else "flow control still on",
                  "by C2HData SUCCESS" if fr.c2h_success else "with a CapsuleResp") +
          ("" if fc_off or not fr.c2h_success else
           ": SUCCESS is only allowed once SQ flow control is disabled (SQHD FFFFh)"))
    f.close()

    # digests on another I/O queue of the same controller
    d, cpl = open_io(ADDR, PORT, NQN1, HOST1, S["admin"].cntlid, qid=2, hdgst=True,
                     ddgst=True, ioccsz=S["ioccsz"])
    check(cpl.ok and d.hdgst and d.ddgst, "I/O queue 2 with header and data digests "
          "(%s)" % st(cpl))
    small = pattern(1024, 4)
    w1 = d.write(1, 300, small, BLK0, icd=True)
    d.h2c_chunk = 4096
    w2 = d.write(1, 310, big[:16384], BLK0, icd=False)
    r1 = d.read(1, 300, 2, BLK0)
    r2 = d.read(1, 310, 32, BLK0)
    check(w1.ok and w2.ok and r1.data == small and r2.data == big[:16384],
          "with digests: in-capsule write, R2T write, reads back the same (%s %s %s %s)" %
          (st(w1), st(w2), st(r1), st(r2)))
    S["dio"] = d

    expect(io.read(1, NB0, 1, BLK0), 0, 0x80, "Read at SLBA = NSZE (LBA Out of Range)")
    expect(io.read(1, NB0 - 1, 2, BLK0), 0, 0x80, "Read of 2 blocks at NSZE - 1")
    expect(io.write(1, NB0 - 2, pattern(1536, 5), BLK0, icd=True), 0, 0x80,
           "Write of 3 blocks at NSZE - 2")
    expect(io.read(1, 0, 1, BLK0, sgl_len=0), 0, 0x0F,
           "Read of 1 block with an SGL of 0 bytes (Data SGL Length Invalid)")
    expect(io.read(1, 0, 4, BLK0, sgl_len=1024), 0, 0x0F,
           "Read of 4 blocks with a 1 KiB SGL (Data SGL Length Invalid)")
    c = io.io_sqe(IO_WRITE, 1, 0, 1, 0, False)
    expect(io.cmd(c), 0, 0x0F, "Write of 1 block with a Transport SGL of 0 bytes (Data SGL "
           "Length Invalid)")
    # Base, status 0Fh: an SGL longer than the transfer is only accepted when
    # Identify SGLS bit 18 says so.
    sgls = struct.unpack_from("<I", S["idctrl"], 536)[0]
    r = io.read(1, 0, 1, BLK0, sgl_len=4096)
    if sgls & (1 << 18):
        check(r.ok and r.data[:BLK0] == io.read(1, 0, 1, BLK0).data,
              "Read of 1 block into a 4 KiB SGL (SGLS bit 18 set) -> success (%s)" % st(r))
    else:
        expect(r, 0, 0x0F, "Read of 1 block into a 4 KiB SGL while SGLS bit 18 (SGL longer "
               "than the data) is clear (%08x)" % sgls)
    c = io.io_sqe(IO_WRITE, 1, 0, 4, 1024, True)
    expect(io.cmd(c, pattern(1024, 6), icd=True), 0, 0x0F,
           "Write of 4 blocks with 1 KiB of in-capsule data (Data SGL Length Invalid)")
    # above MDTS (and above max_io_size): Base: Invalid Field in Command
    mdts = S["idctrl"][77]
    n = (4096 << mdts) * 2 if mdts else 262144
    r = io.read(1, 0, n // BLK0, BLK0)
    check(not r.ok and r.sct == 0 and r.sc in (0x02, 0x0F),
          "Read of %d bytes (twice MDTS) -> Invalid Field (Base, MDTS) or Data SGL Length "
          "Invalid (got %s)" % (n, st(r)))
    bad_icd = pattern(ICD_SIZE + 512, 7)
    c = io.io_sqe(IO_WRITE, 1, 0, len(bad_icd) // BLK0, len(bad_icd), True)
    io.send(io.capsule_bytes(c, bad_icd))
    kind, t = io.expect_close(1.0)
    if kind == "open":
        cpl = io.done.pop(struct.unpack_from("<H", c, 2)[0], None)
        check(cpl is not None and not cpl.ok,
              "in-capsule data above IOCCSZ: the command fails or the connection ends "
              "(got %r)" % cpl)
    else:
        check(True, "in-capsule data above IOCCSZ ends the connection (%s)" %
              ("FES %02xh" % t.fes if t else "closed"))
        io, cpl = open_io(ADDR, PORT, NQN1, HOST1, S["admin"].cntlid, qid=3,
                          ioccsz=S["ioccsz"])
        S["io"] = io

    ref = pattern(2048, 8)
    io.write(1, 400, ref, BLK0, icd=True)
    check(io.compare(1, 400, ref, BLK0).ok, "Compare of equal data -> success")
    bad = bytearray(ref)
    bad[700] ^= 1
    expect(io.compare(1, 400, bytes(bad), BLK0), 2, 0x85, "Compare of different data "
           "(Compare Failure)")
    expect(io.compare(1, 400, pattern(65536, 9)[:8192], BLK0, icd=False), 2, 0x85,
           "Compare of 8 KiB through R2T, different data")

    io.write(1, 500, pattern(4096, 10), BLK0, icd=False)
    wz = io.write_zeroes(1, 500, 8)
    r = io.read(1, 500, 8, BLK0)
    check(wz.ok and r.ok and r.data == bytes(4096), "Write Zeroes 8 blocks then read: zeros "
          "(%s)" % st(wz))
    check(io.dsm_deallocate(1, [(600, 16), (700, 8)]).ok, "Dataset Management deallocate "
          "of 2 ranges -> success")
    expect(io.read(99, 0, 1, BLK0), 0, 0x0B, "Read of nsid 99 (Invalid Namespace or Format)")
    expect(io.write_zeroes(1, NB0 - 4, 8), 0, 0x80, "Write Zeroes past the end")
    expect(io.dsm_deallocate(1, [(0, 8), (NB0 - 1, 2)]), 0, 0x80,
           "Dataset Management with a range past the end")
    c = sqe(IO_READ, io.alloc_cid(), 1, 0, 0, 0, psdt=0, sgl_len=BLK0)
    expect(io.cmd(c, read_len=BLK0), 0, 0x02,
           "Read with PSDT 00b (PRPs: not a Fabrics data transfer) -> Invalid Field")
    c = sqe(IO_WRITE, io.alloc_cid(), 1, 0, 0, 1, sgl_len=1024, sgl_id=0x40)
    expect(io.cmd(c, pattern(1024, 16), icd=True), 0, 0x11,
           "Write with a Keyed SGL Data Block descriptor (SGL Descriptor Type Invalid)")
    c = sqe(IO_WRITE, io.alloc_cid(), 1, 0, 0, 1, sgl_len=1024,
            sgl_id=SGL_DATA_BLOCK_OFFSET, sgl_addr=1024)
    r = io.cmd(c, pattern(1024, 17), icd=True)
    check(r.sct == 0 and r.sc in (0x16, 0x0F), "in-capsule SGL with offset 1024 past the "
          "1024 bytes sent -> Invalid SGL Offset / Data SGL Length Invalid (got %s)" % st(r))
    check(io.flush(1).ok, "Flush -> success")
    r = io.cmd(sqe(0x7C, io.alloc_cid(), 1))
    expect(r, 0, 0x01, "I/O opcode 7Ch (Invalid Command Opcode)")

    # fused Compare + Write
    old, new, other = pattern(1024, 11), pattern(1024, 12), pattern(1024, 13)
    io.write(1, 800, old, BLK0, icd=True)
    c1 = io.io_sqe(IO_COMPARE, 1, 800, 2, 1024, True, fuse=1)
    c2 = io.io_sqe(IO_WRITE, 1, 800, 2, 1024, True, fuse=2)
    io.send(io.capsule_bytes(c1, old) + io.capsule_bytes(c2, new))
    for c, dd in ((c1, old), (c2, new)):
        io.pending[struct.unpack_from("<H", c, 2)[0]] = {"out": dd, "in": bytearray(),
                                                        "got": 0}
    k1, k2 = io.wait(struct.unpack_from("<H", c1, 2)[0]), io.wait(struct.unpack_from("<H", c2, 2)[0])
    r = io.read(1, 800, 2, BLK0)
    check(k1.ok and k2.ok and r.data == new, "fused Compare + Write, equal: both succeed, "
          "data replaced (%s / %s)" % (st(k1), st(k2)))
    c1 = io.io_sqe(IO_COMPARE, 1, 800, 2, 1024, True, fuse=1)
    c2 = io.io_sqe(IO_WRITE, 1, 800, 2, 1024, True, fuse=2)
    io.send(io.capsule_bytes(c1, old) + io.capsule_bytes(c2, other))
    k1, k2 = io.wait(struct.unpack_from("<H", c1, 2)[0]), io.wait(struct.unpack_from("<H", c2, 2)[0])
    r = io.read(1, 800, 2, BLK0)
    check(k1.is_(2, 0x85) and k2.is_(0, 0x09) and r.data == new,
          "fused Compare + Write, different: Compare Failure + Command Aborted due to Failed "
          "Fused Command (09h), data unchanged (got %s / %s)" % (st(k1), st(k2)))
    c2 = io.io_sqe(IO_WRITE, 1, 800, 2, 1024, True, fuse=2)
    k2 = io.cmd(c2, other, icd=True)
    expect(k2, 0, 0x0A, "a lone second fused command (Command Aborted due to Missing Fused "
           "Command)")


# ---------------------------------------------------------------- robustness

def capsule_of(c, opc=IO_FLUSH):
    return c.capsule_bytes(sqe(opc, c.alloc_cid(), 1))


def connected(port=PORT, **kw):
    c = Conn(ADDR, port, timeout=5, **kw)
    c.icreq()
    cpl = c.connect(NQN1, HOST1)
    if not cpl.ok:
        raise ProtoError("Connect failed: %r" % cpl)
    c.enable()
    return c


def test_robustness():
    p = S["p"]
    c = Conn(ADDR, PORT)
    c.send(os.urandom(600))
    expect_fatal(c, "600 random bytes instead of an ICReq")
    c = new_ic()
    c.send(bytes([0xEE]) + os.urandom(300))
    expect_fatal(c, "garbage after the IC exchange (PDU type EEh)", FES_INVALID_HEADER_FIELD, 0)
    fresh_ok("garbage bytes")

    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(0, 9, 1), plen=40))
    expect_fatal(c, "CapsuleCmd with PLEN 40 < HLEN 72", FES_INVALID_HEADER_FIELD, 4)
    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(0, 9, 1), pdo=72, plen=0xFFFFFFF0) +
           os.urandom(4096))
    expect_fatal(c, "CapsuleCmd with PDO 72 and PLEN FFFFFFF0h (in-capsule data far above "
                 "IOCCSZ)", FES_INVALID_HEADER_FIELD, 4)
    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(0, 9, 1), plen=0xFFFFFFF0) + os.urandom(4096))
    t = expect_fatal(c, "CapsuleCmd with PDO 0 and PLEN FFFFFFF0h", FES_INVALID_HEADER_FIELD)
    check(t is None or t.fei in (3, 4), "  FEI names PDO (3) or PLEN (4) (got %s)" %
          (t.fei if t else None))
    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(0, 9, 1), hlen=64))
    expect_fatal(c, "CapsuleCmd with HLEN 64", FES_INVALID_HEADER_FIELD, 2)
    fresh_ok("bad PLEN / HLEN")

    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(IO_WRITE, 9, 1, sgl_len=512,
                                         sgl_id=SGL_DATA_BLOCK_OFFSET), bytes(512), pdo=74))
    expect_fatal(c, "CapsuleCmd with PDO 74 (not a multiple of 4, CPDA 0)",
                 FES_INVALID_HEADER_FIELD, 3)
    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, F_HDGST, sqe(0, 9, 1)))
    expect_fatal(c, "HDGSTF set without header digests negotiated", FES_INVALID_HEADER_FIELD,
                 1)
    c = connected()
    c.send(pdu_bytes(CAPSULE_CMD, 0, sqe(IO_WRITE, 9, 1, sgl_len=512,
                                         sgl_id=SGL_DATA_BLOCK_OFFSET), bytes(512),
                     ddgst=True))
    expect_fatal(c, "DDGSTF set without data digests negotiated", FES_INVALID_HEADER_FIELD, 1)
    c = connected()
    c.send(struct.pack("<BBBBIHI10x", H2C_TERM, 0, 24, 0, 24, FES_PDU_SEQUENCE, 0))
    kind, t = c.expect_close(3.0)
    c.close()
    check(kind == "closed", "H2CTermReq from the host: the target closes the connection "
          "and does not answer with a TermReq (got %s %s)" % (kind, t))
    fresh_ok("bad PDO / flags, H2CTermReq")

    c = connected(hdgst=True, ddgst=True)
    c.send(c.capsule_bytes(sqe(0, 9, 1), bad_hdgst=True))
    expect_fatal(c, "CapsuleCmd with a wrong header digest", FES_HDGST, allow_close=False)
    fresh_ok("wrong header digest")

    # Data digest errors are not fatal: TCP 1.0 "Data Digest": the command
    # completes with Transient Transport Error and the connection goes on.
    d = S.get("dio")
    if d:
        c = d.io_sqe(IO_WRITE, 1, 900, 2, 1024, True)
        cid = struct.unpack_from("<H", c, 2)[0]
        d.pending[cid] = {"out": b"", "in": bytearray(), "got": 0}
        d.send(d.capsule_bytes(c, pattern(1024, 14), bad_ddgst=True))
        try:
            cpl = d.wait(cid, 3)
            expect(cpl, 0, 0x22, "in-capsule write with a wrong data digest (Transient "
                   "Transport Error)")
            r = d.read(1, 900, 1, BLK0)
            check(r.ok, "  the connection goes on after a data digest error (%s)" % st(r))
        except TermReq as t:
            check(False, "in-capsule write with a wrong data digest -> Transient Transport "
                  "Error, connection kept (got C2HTermReq FES %02xh)" % t.fes)
        except ProtoError as e:
            check(False, "data digest error: %s" % e)
    fresh_ok("wrong data digest")

    def r2t_conn():
        c = Conn(ADDR, PORT, timeout=5)
        c.icreq()
        c.connect(NQN1, HOST1, qid=4, sqsize=31, cntlid=S["admin"].cntlid)
        w = c.io_sqe(IO_WRITE, 1, 1000, 16, 8192, False)
        c.send(c.capsule_bytes(w))
        p_ = c.recv_pdu()
        if p_.type != R2T:
            raise ProtoError("expected R2T, got %r" % p_)
        cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p_.hdr, 8)
        return c, cccid, ttag, r2to, r2tl

    c, cccid, ttag, r2to, r2tl = r2t_conn()
    c.send(pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(cccid, ttag ^ 0x5A5A, 0, 4096),
                     bytes(4096)))
    expect_fatal(c, "H2CData with a wrong TTAG", FES_INVALID_HEADER_FIELD, 10)
    c, cccid, ttag, r2to, r2tl = r2t_conn()
    c.send(pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(cccid, ttag, r2to + r2tl, 4096),
                     bytes(4096)))
    expect_fatal(c, "H2CData with DATAO past the R2T", FES_OUT_OF_RANGE)
    c, cccid, ttag, r2to, r2tl = r2t_conn()
    c.send(pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(cccid, ttag, r2to, r2tl + 4096),
                     bytes(r2tl + 4096)))
    expect_fatal(c, "H2CData with DATAL longer than the R2T", FES_OUT_OF_RANGE)
    c, cccid, ttag, r2to, r2tl = r2t_conn()
    c.send(pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(cccid, ttag, r2to, 100), bytes(200)))
    expect_fatal(c, "H2CData with DATAL 100 but 200 data bytes", FES_INVALID_HEADER_FIELD)
    fresh_ok("bad H2CData")
    for t_, name in ((CAPSULE_RESP, "CapsuleResp"), (R2T, "R2T"), (ICRESP, "ICResp")):
        c = connected()
        rest = bytes(HLEN[t_] - 8)
        c.send(pdu_bytes(t_, 0, rest))
        expect_fatal(c, "host sends a controller-only %s PDU" % name,
                     (FES_INVALID_HEADER_FIELD, FES_PDU_SEQUENCE) if t_ == ICRESP
                     else FES_INVALID_HEADER_FIELD, None if t_ == ICRESP else 0)
    c = connected()
    c.send(pdu_bytes(C2H_DATA, F_LAST, struct.pack("<H2xII4x", 1, 0, 4), b"abcd"))
    expect_fatal(c, "host sends a C2HData PDU", FES_INVALID_HEADER_FIELD, 0)
    fresh_ok("C2H-only PDU types from the host")

    c, cccid, ttag, r2to, r2tl = r2t_conn()
    c.send(pdu_bytes(H2C_DATA, 0, h2c_data_hdr(cccid, ttag, 0, 4096), bytes(4096))[:2000])
    c.sock.close()
    time.sleep(0.2)
    check(alive(p), "daemon alive after an abrupt close in the middle of an R2T transfer")
    fresh_ok("abrupt close mid-R2T")
    c = Conn(ADDR, PORT)
    c.send(icreq_bytes()[:50])
    c.close()
    c = new_ic()
    c.send(capsule_of(c)[:30])
    c.close()
    fresh_ok("connections closed in the middle of a PDU")


def test_many_connections():
    p = S["p"]
    conns = []
    for i in range(40):
        try:
            c = Conn(ADDR, PORT, timeout=5)
            c.icreq()
            if i % 2:
                c.connect(NQN1, HOST1)
            conns.append(c)
        except Exception as e:
            check(False, "connection %d of 40: %r" % (i, e))
            break
    check(len(conns) == 40, "40 connections open at once (%d)" % len(conns))
    for c in conns:
        c.close()
    for i in range(60):
        c = Conn(ADDR, PORT, timeout=5)
        if i % 3:
            c.icreq()
        if i % 3 == 2:
            c.connect(NQN1, HOST1)
        c.close()
    check(alive(p), "daemon alive after 100 connections opened and closed")
    fresh_ok("many connections")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_admission():
    """Connections that never send ICReq (or never Connect) cost little and are
    closed after the admission timeout (5 s), while real hosts get in."""
    p = S["p"]
    rss0 = rss_kb(p.pid)
    idle = []
    for i in range(60):
        s = socket.create_connection((ADDR, PORT), timeout=5)
        if i % 3 == 0:
            s.sendall(icreq_bytes())   # ICReq but never Connect
        idle.append(s)
    time.sleep(0.5)
    grew = rss_kb(p.pid) - rss0
    osp_e2e.check_rss(grew, 8 * 1024, "RSS cost of 60 idle connections")
    fresh_ok("60 idle connections open")
    t0 = time.time()
    closed = 0
    for s in idle:
        s.settimeout(max(0.1, t0 + 9 - time.time()))
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    closed += 1
                    break
        except (socket.timeout, TimeoutError):
            pass
        except ConnectionResetError:
            closed += 1
        s.close()
    dt = time.time() - t0
    check(closed == 60, "the target closed all 60 connections that did not complete "
          "ICReq/Connect (%d, within %.1f s)" % (closed, dt))
    log = osp_e2e.tgt_log(p)
    check("no ICReq within" in log and "no Connect within" in log,
          "the timeouts are logged with the peer address")
    check(alive(p), "daemon alive after the idle connections")


def fuzz_one(rnd, i):
    """One mutated valid stream on a fresh connection (ICReq, Connect, maybe
    a write through R2T or a read), mutated in 1-4 places or truncated."""
    kind = rnd.randrange(4)
    stream = bytearray(icreq_bytes(dgst=rnd.randrange(4) if kind == 3 else 0))
    hd = kind == 3 and stream[11] & 1
    dd = kind == 3 and stream[11] & 2
    cap = pdu_bytes(CAPSULE_CMD, 0, connect_sqe(1, 0, 31), connect_data(NQN1, HOST1),
                    hdgst=bool(hd), ddgst=bool(dd))
    stream += cap
    if kind >= 1:
        stream += pdu_bytes(CAPSULE_CMD, 0, sqe(IO_READ, 2, 1, 0, 0, 0, sgl_len=512),
                            hdgst=bool(hd))
    if kind == 2:
        stream += pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(3, 0, 0, 512), bytes(512),
                            hdgst=bool(hd), ddgst=bool(dd))
    stream = bytearray(mutate(rnd, stream, 0 if rnd.random() < 0.3 else 128))
    if rnd.random() < 0.2:
        stream = stream[:rnd.randrange(len(stream))]
    c = Conn(ADDR, PORT, timeout=2)
    try:
        c.send(bytes(stream))
        end = time.time() + 0.03
        while time.time() < end:
            c.recv_pdu(timeout=max(0.005, end - time.time()))
    except (ProtoError, OSError, socket.timeout):
        pass
    finally:
        c.close()


def mutate(rnd, b, start=0):
    b = bytearray(b)
    for _ in range(rnd.randint(1, 4)):
        pos = rnd.randrange(start, len(b))
        op = rnd.randrange(3)
        if op == 0:
            b[pos] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b[pos] = rnd.choice((0, 0xFF, 0x7F, 0x80, rnd.randrange(256)))
        else:
            struct.pack_into("<I", b, min(pos, len(b) - 4),
                             rnd.choice((0, 0xFFFFFFFF, 0x80000000, 4096, 131072, 24,
                                         rnd.getrandbits(32))))
    return bytes(b)


FSTAT = {}


def fuzz_deep(rnd, cntlid):
    """A live I/O queue (optionally with digests): a write through R2T whose
    H2CData, or a command capsule, is mutated; then a good command must still
    complete or the connection must end cleanly."""
    dg = rnd.randrange(4)
    c = Conn(ADDR, PORT, hdgst=bool(dg & 1), ddgst=bool(dg & 2), timeout=2)
    try:
        c.icreq()
        cc = c.connect(NQN1, HOST1, qid=rnd.randrange(10, 120), sqsize=15, cntlid=cntlid)
        if not cc.ok:
            k = "connect %s cdw0 %08x" % (status_str(cc.sct, cc.sc), cc.cdw0)
            FSTAT[k] = FSTAT.get(k, 0) + 1
            return
        c.max_icd = ICD_SIZE
        if rnd.random() < 0.5:
            n = rnd.choice((1, 8, 16, 64))
            w = c.io_sqe(IO_WRITE, 1, rnd.randrange(2000), n, n * BLK0, False)
            c.send(c.capsule_bytes(w))
            p_ = c.recv_pdu()
            if p_.type != R2T:
                return
            FSTAT["mutated_h2cdata"] = FSTAT.get("mutated_h2cdata", 0) + 1
            cccid, ttag, r2to, r2tl = struct.unpack_from("<HHII", p_.hdr, 8)
            data = bytes(r2tl)
            h = pdu_bytes(H2C_DATA, F_LAST, h2c_data_hdr(cccid, ttag, r2to, r2tl), data,
                          hdgst=c.hdgst, ddgst=c.ddgst)
            c.send(mutate(rnd, h))
        else:
            opc = rnd.choice((IO_READ, IO_WRITE, IO_COMPARE, IO_DSM, IO_WRITE_ZEROES, 0x7F))
            icd = bytes(rnd.choice((0, 16, 512, 1024)))
            cmd = sqe(opc, 77, 1, rnd.randrange(4096), 0, rnd.randrange(16),
                      sgl_len=len(icd), sgl_id=SGL_DATA_BLOCK_OFFSET if icd else
                      SGL_TRANSPORT_DATA_BLOCK)
            c.send(mutate(rnd, c.capsule_bytes(cmd, icd)))
            FSTAT["mutated_capsules"] = FSTAT.get("mutated_capsules", 0) + 1
        end = time.time() + 0.05
        while time.time() < end:
            c.recv_pdu(timeout=max(0.005, end - time.time()))
    except (ProtoError, OSError, socket.timeout):
        pass
    finally:
        c.close()


def test_fuzz():
    p = S["p"]
    rnd = random.Random(FUZZ_SEED)
    print("  fuzz seed %d, %d iterations (PROTO_FUZZ_SEED / PROTO_FUZZ_ITERS)" %
          (FUZZ_SEED, FUZZ_ITERS))
    for i in range(FUZZ_ITERS):
        try:
            if i % 3 == 2 and S.get("admin"):
                fuzz_deep(rnd, S["admin"].cntlid)
            else:
                fuzz_one(rnd, i)
        except (ConnectionRefusedError, ConnectionResetError) as e:
            check(False, "fuzz iteration %d (seed %d): %r" % (i, FUZZ_SEED, e))
            break
        if i % 100 == 99 and not alive(p):
            check(False, "daemon died at fuzz iteration %d (seed %d)" % (i, FUZZ_SEED))
            return
    check(alive(p), "daemon alive after %d fuzzed streams (seed %d; on live I/O queues: %s)" %
          (FUZZ_ITERS, FUZZ_SEED, FSTAT))
    fresh_ok("the fuzz loop")


def test_no_leaks():
    for k in ("io", "dio", "admin"):
        if S.get(k):
            S[k].close()
    ok = wait_for(lambda: rpc_json("nvmf_subsystem_get_qpairs", NQN1) == [], 10)
    q = rpc_json("nvmf_subsystem_get_qpairs", NQN1)
    check(ok, "nvmf_subsystem_get_qpairs %s is empty once every host closed (got %d: %s)" %
          (NQN1, len(q or []), str(q)[:300]))
    ok = wait_for(lambda: rpc_json("nvmf_subsystem_get_controllers", NQN1) == [], 5)
    check(ok, "nvmf_subsystem_get_controllers %s is empty too" % NQN1)


# ---------------------------------------------------------------- keep alive

def test_keep_alive():
    idle, cpl = open_admin(ADDR, PORT, NQN1, HOST1, kato=2000)
    busy, cpl2 = open_admin(ADDR, PORT, NQN1, HOST1, kato=2000)
    check(cpl.ok and cpl2.ok, "two controllers with KATO 2000 ms")
    t0 = time.time()
    idle_gone = None
    ka_ok = True
    next_ka = t0
    idle.sock.settimeout(0.05)
    while time.time() - t0 < 9.5:
        now = time.time()
        if now >= next_ka and now - t0 <= 5.5:
            try:
                ka_ok &= busy.keep_alive().ok
            except Exception:
                ka_ok = False
            next_ka += 0.5
        if idle_gone is None:
            try:
                b = idle.sock.recv(4096)
                if not b:
                    idle_gone = time.time() - t0
            except socket.timeout:
                pass
            except OSError:
                idle_gone = time.time() - t0
        elif now - t0 > 5.5:
            break
        time.sleep(0.02)
    check(idle_gone is not None and idle_gone <= 2 * 2.0 + 5,
          "KATO 2000 ms and silence: the target drops the connection within 2 x KATO + 5 s "
          "(after %s s)" % ("%.1f" % idle_gone if idle_gone else "never"))
    ctrls = rpc_json("nvmf_subsystem_get_controllers", NQN1) or []
    ids = [x.get("cntlid") for x in ctrls]
    check(idle.cntlid not in ids, "the dropped controller %s is no longer listed (%s)" %
          (idle.cntlid, ids))
    try:
        alive_busy = busy.keep_alive().ok
    except Exception:
        alive_busy = False
    check(ka_ok and alive_busy and busy.cntlid in ids,
          "Keep Alive every 500 ms keeps the other controller for 5 s")
    idle.close()
    busy.close()


# ---------------------------------------------------------------- main

def body():
    t0 = time.time()
    print("setup")
    if not setup():
        return
    section("ICReq / ICResp", test_ic)
    section("Connect", test_connect)
    if "admin" not in S:
        return
    section("properties", test_properties)
    section("Identify", test_identify)
    section("log pages", test_logs)
    section("features", test_features)
    section("I/O", test_io)
    section("SPDK perf's Connect (empty host NQN)", test_empty_hostnqn)
    section("robustness", test_robustness)
    section("many connections", test_many_connections)
    section("admission of idle connections", test_admission)
    section("fuzz", test_fuzz)
    section("keep alive", test_keep_alive)
    section("no leaks", test_no_leaks)
    rc = stop_tgt(S["p"])
    check(rc == 0, "nvmf_tgt exits 0 on SIGTERM (%s)" % rc)
    print("elapsed %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    sys.exit(run(body))

#!/usr/bin/env python3
"""SPDK compatibility of nvme_perf's command line, replayed against
build/bin/nvmf_tgt over NVMe/TCP on 127.0.0.1 (ports picked free at run time).

Every transport id key and perf option that a script written for SPDK's
spdk_nvme_perf uses is run and its effect checked where the target (RPCs), a
capture (a forwarding proxy in this file that parses the NVMe/TCP PDUs
passing through) or strace can see it:
  -r keys: hostnqn (the target's controller list shows it; a subsystem that
  allows only that host accepts it), hostaddr/hostsvcid (the target's qpair
  list shows that peer address and port), ns (only that namespace gets I/O:
  the target's per-bdev counters), alt_traddr (tried when traddr fails),
  priority (setsockopt SO_PRIORITY seen by strace); unknown keys, empty
  values, bad NQNs, bad numbers refused with a message naming the key.
  perf options: -a (warm-up I/O reaches the target but not the counts), -C
  (max completions per poll, from --transport-stats), -L/-LL, -k (Keep
  Alive commands in the capture; none with -k 0), -H/-I (ICReq/ICResp DGST
  and the PDUs' digest flags in the capture), -N (no CC.SHN Property Set in
  the capture, one without -N), --zerocopy-threshold
  (MSG_ZEROCOPY sends under strace), --transport-stats, -P 4 and -H -I
  verify runs; bad values exit non-zero with a message.
Prints "N passed, N failed" last, exits non-zero on failure. Only processes it
started are stopped, by PID.

Environment: OSPREY_BIN_DIR (default build/bin) picks the binaries to test.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import osp_e2e  # noqa: E402
from osp_e2e import *  # noqa: E402,F401,F403

osp_e2e.TGT = os.path.join(osp_e2e.BIN_DIR, "nvmf_tgt")
PERF = os.path.join(osp_e2e.BIN_DIR, "nvme_perf")
IDENTIFY = os.path.join(osp_e2e.BIN_DIR, "nvme_identify")
NQN = "nqn.2016-06.io.spdk:cnode1"
NQN_LOCKED = "nqn.2016-06.io.spdk:locked"
HOSTNQN = "nqn.2014-08.org.example:perf-opts-host"
PORT, PROXY_PORT, SRC_PORT = free_ports(3)
TRID = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%d subnqn:%s" % (PORT, NQN)
TOTAL_RE = re.compile(r"^Total\s+:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$",
                      re.M)
CORES = "0x2" if (os.cpu_count() or 1) >= 2 else "0x1"


def perf(*args, timeout=60, prefix=()):
    cmd = [*prefix, PERF, "-c", CORES, *args]
    env = None
    if prefix:
        # LeakSanitizer cannot run under ptrace (strace): the rest of ASan still checks.
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                   ":detect_leaks=0")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=min(timeout, time_left()),
                       env=env)
    r.cmd = " ".join(cmd)
    return r


def perf_bg(*args):
    cmd = [PERF, "-c", CORES, *args]
    k = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    k.cmd = " ".join(cmd)
    return k


def finish(k, timeout=30):
    try:
        out, err = k.communicate(timeout=min(timeout, time_left()))
    except subprocess.TimeoutExpired:
        k.kill()
        out, err = k.communicate()
    r = subprocess.CompletedProcess(k.args, k.returncode, out, err)
    r.cmd = k.cmd
    return r


def total(r):
    m = TOTAL_RE.search(r.stdout)
    return [float(x) for x in m.groups()] if m else None


def check_run(what, r, nsids=None):
    t = total(r)
    ok = check(r.returncode == 0, what + ": exit 0")
    ok &= check(t is not None and t[0] > 0, what + ": Total line with IOPS > 0 (%s)" % (t,))
    if nsids is not None:
        got = re.findall(r"^TCP \(addr:[^ ]* subnqn:[^ ]*\) NSID (\d+) from core +\d+:",
                         r.stdout, re.M)
        ok &= check(sorted(int(n) for n in got) == sorted(nsids),
                    what + ": lines for namespaces %s (%s)" % (nsids, got))
    if "-V" in r.cmd.split():
        ok &= check(" 0 miscompares" in r.stdout, what + ": verify reports 0 miscompares")
    if not ok:
        print("    %s\n    stdout: %s\n    stderr: %s" % (r.cmd, r.stdout[-1500:],
                                                         r.stderr[-1500:]))
    return ok


def refused(what, r, *needles):
    low = r.stderr.lower()
    missing = [n for n in needles if n.lower() not in low]
    ok = check(r.returncode != 0 and not missing and "Total" not in r.stdout,
               "%s: exit %d, message naming %s" % (what, r.returncode,
                                                  ", ".join(repr(n) for n in needles)))
    if not ok:
        print("    %s\n    stderr: %s" % (r.cmd, r.stderr.strip()[-600:]))
    return ok


def bdev_ops(name):
    st = rpc_json("bdev_get_iostat", "-b", name) or {}
    b = (st.get("bdevs") or [{}])[0]
    return b.get("num_read_ops", 0) + b.get("num_write_ops", 0)


# ---------------------------------------------------------------- capture

class Proxy:
    """Forward 127.0.0.1:PROXY_PORT to the target and parse the NVMe/TCP PDUs
    in both directions: ICReq/ICResp digest bytes, the HDGSTF/DDGSTF flags of
    every PDU, admin opcodes of the capsules (Keep Alive is 18h)."""

    def __init__(self, listen_port, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(64)
        self.lock = threading.Lock()
        self.reset()
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def reset(self):
        with self.lock:
            self.icreq_dgst = []
            self.icresp_dgst = []
            self.pdus = {}          # (direction, pdu type) -> count
            self.hdgst = {}         # (direction, pdu type) -> PDUs with HDGSTF
            self.ddgst = {}         # (direction, pdu type) -> PDUs with DDGSTF
            self.admin_opcodes = []
            self.prop_sets = []     # (offset, value) of Fabrics Property Set commands

    def accept_loop(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                t = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                c.close()
                continue
            for s in (c, t):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"qid": None}
            threading.Thread(target=self.pump, args=(c, t, "h2c", state), daemon=True).start()
            threading.Thread(target=self.pump, args=(t, c, "c2h", state), daemon=True).start()

    def pump(self, src, dst, direction, state):
        buf = b""
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                dst.sendall(data)
                buf += data
                while len(buf) >= 8:
                    ptype, flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", buf, 0)
                    if plen < 8 or len(buf) < plen:
                        break
                    self.pdu(direction, ptype, flags, buf[:plen], state)
                    buf = buf[plen:]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def pdu(self, direction, ptype, flags, pdu, state):
        key = (direction, ptype)
        with self.lock:
            self.pdus[key] = self.pdus.get(key, 0) + 1
            if flags & 0x1:
                self.hdgst[key] = self.hdgst.get(key, 0) + 1
            if flags & 0x2:
                self.ddgst[key] = self.ddgst.get(key, 0) + 1
            if ptype == 0x00 and len(pdu) >= 12:
                self.icreq_dgst.append(pdu[11])
            elif ptype == 0x01 and len(pdu) >= 12:
                self.icresp_dgst.append(pdu[11])
            elif ptype == 0x04 and len(pdu) >= 72:
                opc = pdu[8]
                if opc == 0x7F and pdu[12] == 0x01:
                    # Fabrics Connect: QID in SQE bytes 42-43.
                    state["qid"] = struct.unpack_from("<H", pdu, 8 + 42)[0]
                elif opc == 0x7F and pdu[12] == 0x00:
                    # Property Set: OFST in SQE bytes 44-47, VALUE in 48-55.
                    self.prop_sets.append(struct.unpack_from("<IQ", pdu, 8 + 44))
                elif state["qid"] == 0:
                    self.admin_opcodes.append(opc)

    def count(self, table, direction, ptype):
        with self.lock:
            return table.get((direction, ptype), 0)

    def close(self):
        self.stop = True
        self.lsock.close()


# ---------------------------------------------------------------- target

def setup(p):
    print("target set-up")
    ok = rpc_ok("nvmf_create_transport", "-t", "tcp")
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc0", "64", "4096") == "Malloc0"
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc1", "32", "4096") == "Malloc1"
    ok &= rpc_ok("nvmf_create_subsystem", NQN, "-a", "-s", "OSP0001")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc0")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN, "Malloc1")
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1", "-s",
                 str(PORT))
    # A subsystem that lets in one host only.
    ok &= rpc_out("bdev_malloc_create", "-b", "Malloc2", "16", "4096") == "Malloc2"
    ok &= rpc_ok("nvmf_create_subsystem", NQN_LOCKED, "-s", "OSP0002")
    ok &= rpc_ok("nvmf_subsystem_add_ns", NQN_LOCKED, "Malloc2")
    ok &= rpc_ok("nvmf_subsystem_add_host", NQN_LOCKED, HOSTNQN)
    ok &= rpc_ok("nvmf_subsystem_add_listener", NQN_LOCKED, "-t", "tcp", "-a", "127.0.0.1",
                 "-s", str(PORT))
    check(ok, "nvmf_tgt: %s with 2 namespaces, %s open to %s only, port %d"
          % (NQN, NQN_LOCKED, HOSTNQN, PORT))
    return ok


def controllers(nqn=NQN):
    return rpc_json("nvmf_subsystem_get_controllers", nqn) or []


def qpairs(nqn=NQN):
    return rpc_json("nvmf_subsystem_get_qpairs", nqn) or []


# ---------------------------------------------------------------- trid keys

def test_hostnqn(p):
    print("-r hostnqn:")
    k = perf_bg("-q", "4", "-o", "4096", "-w", "randread", "-t", "3", "-r",
                TRID + " hostnqn:" + HOSTNQN)
    seen = wait_for(lambda: any(c.get("hostnqn") == HOSTNQN for c in controllers()), 10)
    r = finish(k)
    check_run("hostnqn:" + HOSTNQN, r)
    check(seen, "the target's nvmf_subsystem_get_controllers shows hostnqn " + HOSTNQN)
    locked = "trtype:TCP traddr:127.0.0.1 trsvcid:%d subnqn:%s" % (PORT, NQN_LOCKED)
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-r",
             locked + " HOSTNQN:" + HOSTNQN)
    check_run("a subsystem that allows only %s accepts it (key spelled HOSTNQN)" % HOSTNQN, r,
              nsids=[1])
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-t", "1", "-r", locked)
    check(r.returncode != 0 and "connect" in r.stderr.lower(),
          "without hostnqn: the same subsystem refuses the Connect (%s)"
          % r.stderr.strip().splitlines()[-1:])
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-t", "1", "--hostnqn",
             "nqn.2014-08.org.example:other", "-r", locked + " hostnqn:" + HOSTNQN)
    check_run("hostnqn: of -r wins over --hostnqn", r, nsids=[1])
    for bad in ("bad", "nqn.2014-08.org.example:" + "x" * 230):
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
                 TRID + " hostnqn:" + bad)
        refused("hostnqn:%s..." % bad[:30], r, "hostnqn")


def test_hostaddr(p):
    print("-r hostaddr: hostsvcid:")
    k = perf_bg("-q", "4", "-o", "4096", "-w", "randread", "-t", "3", "-P", "2", "-r",
                TRID + " hostaddr:127.0.0.3 hostsvcid:%d" % SRC_PORT)
    got = []

    def seen():
        got[:] = [(q.get("qid"), (q.get("peer_address") or {}).get("traddr"),
                   (q.get("peer_address") or {}).get("trsvcid")) for q in qpairs()]
        return len(got) >= 3
    wait_for(seen, 10)
    r = finish(k)
    check_run("hostaddr:127.0.0.3 hostsvcid:%d -P 2" % SRC_PORT, r)
    check(len(got) >= 3 and all(a == "127.0.0.3" for _, a, _ in got),
          "the target sees every qpair coming from 127.0.0.3 (%s)" % got)
    check(len(got) >= 3 and all(s == str(SRC_PORT + q) for q, _, s in got),
          "the admin queue from port %d, I/O queue n from %d + n (%s)" % (SRC_PORT, SRC_PORT,
                                                                           got))
    k = perf_bg("-q", "4", "-o", "4096", "-w", "randread", "-t", "2", "-r",
                TRID + " hostaddr:127.0.0.4")
    wait_for(seen, 10)
    r = finish(k)
    check_run("hostaddr:127.0.0.4 alone", r)
    check(len(got) >= 2 and all(a == "127.0.0.4" for _, a, _ in got),
          "the target sees 127.0.0.4, ports of the kernel's choice (%s)" % got)
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
             TRID + " hostaddr:192.0.2.77")
    refused("hostaddr:192.0.2.77 (not an address of this host)", r, "bind", "192.0.2.77")
    for kv, needle in (("hostaddr:::1", "hostaddr"), ("hostaddr:host.example", "hostaddr"),
                       ("hostsvcid:0", "hostsvcid"), ("hostsvcid:70000", "hostsvcid"),
                       ("hostsvcid:-1", "hostsvcid")):
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", TRID + " " + kv)
        refused(kv, r, needle)


def test_ns(p):
    print("-r ns:")
    before = (bdev_ops("Malloc0"), bdev_ops("Malloc1"))
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-r", TRID + " ns:2")
    check_run("ns:2", r, nsids=[2])
    after = (bdev_ops("Malloc0"), bdev_ops("Malloc1"))
    check(after[0] == before[0] and after[1] - before[1] > 100,
          "only namespace 2 (Malloc1) got I/O on the target (Malloc0 +%d, Malloc1 +%d)"
          % (after[0] - before[0], after[1] - before[1]))
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-t", "1", "-r", TRID + " ns:1",
             "-r", TRID + " ns:2")
    check_run("two -r with ns:1 and ns:2: one controller each", r, nsids=[1, 2])
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", TRID + " ns:9")
    refused("ns:9 (not a namespace of the subsystem)", r, "namespace 9", "not active")
    for kv in ("ns:0", "ns:abc", "ns:-2", "ns:4294967295"):
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", TRID + " " + kv)
        refused(kv, r, "'ns'" if kv == "ns:" else "ns")
    r = subprocess.run([IDENTIFY, "-r", TRID + " ns:2"], capture_output=True, text=True,
                       timeout=30)
    n = len(re.findall(r"^Namespace ID:\s*(\d+)", r.stdout, re.M))
    ids = re.findall(r"^Namespace ID:\s*(\d+)", r.stdout, re.M)
    check(r.returncode == 0 and ids == ["2"],
          "nvme_identify -r '... ns:2' prints namespace 2 only (%s, %d)" % (ids, n))


def test_alt_traddr(p):
    print("-r alt_traddr:")
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-r",
             "trtype:TCP traddr:127.0.0.2 trsvcid:%d subnqn:%s alt_traddr:127.0.0.1"
             % (PORT, NQN))
    check_run("traddr 127.0.0.2 (nothing listens) alt_traddr 127.0.0.1", r, nsids=[1, 2])
    check("trying alt_traddr 127.0.0.1" in r.stderr and "Attached to NVMe over Fabrics "
          "controller at 127.0.0.1:" in r.stdout,
          "it says traddr failed and it used alt_traddr (%s)" % r.stderr.strip()[-200:])
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-t", "1", "-r",
             TRID + " alt_traddr:127.0.0.2")
    check_run("traddr works: alt_traddr not tried", r)
    check("alt_traddr" not in r.stderr, "no alt_traddr note when traddr answers")
    r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
             "trtype:TCP traddr:127.0.0.2 trsvcid:%d subnqn:%s alt_traddr:127.0.0.5"
             % (PORT, NQN))
    check(r.returncode != 0 and "refused" in r.stderr.lower(),
          "both addresses dead: the connection error is reported, exit non-zero")
    refused("alt_traddr:nothost", perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r",
                                       TRID + " alt_traddr:nothost"), "alt_traddr")


def test_priority(p):
    print("-r priority:")
    if shutil.which("strace") is None:
        check(False, "strace is needed to see SO_PRIORITY (apt-get install strace)")
        return
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-t", "1", "-r", TRID + " priority:5",
             prefix=("strace", "-f", "-qq", "-e", "trace=setsockopt", "-o", "/dev/stderr"))
    check_run("priority:5 (under strace)", r)
    n = len(re.findall(r"setsockopt\(\d+, SOL_SOCKET, SO_PRIORITY, \[5\], 4\) = 0", r.stderr))
    check(n >= 2, "SO_PRIORITY 5 set on the admin and I/O sockets (%d setsockopt calls)" % n)
    r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-t", "1", "-r", TRID,
             prefix=("strace", "-f", "-qq", "-e", "trace=setsockopt", "-o", "/dev/stderr"))
    check(r.returncode == 0 and "SO_PRIORITY" not in r.stderr,
          "without priority: no SO_PRIORITY (the kernel's default)")
    for kv in ("priority:-1", "priority:x", "priority:2147483648"):
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", TRID + " " + kv)
        refused(kv, r, "priority")


def test_bad_keys(p):
    print("bad -r strings")
    cases = (
        (TRID + " foo:bar", ("unknown key 'foo'",)),
        (TRID + " hostnqn:", ("empty value", "hostnqn")),
        (TRID + " traddr:127.0.0.1", ("'traddr' given twice",)),
        (TRID + " ns", ("'ns' is not key:value",)),
        ("trtype:TCP traddr: trsvcid:%d" % PORT, ("empty value", "traddr")),
    )
    for trid, needles in cases:
        r = perf("-q", "1", "-o", "4096", "-w", "read", "-t", "1", "-r", trid)
        refused("-r '%s'" % trid[-40:], r, *needles)
    r = subprocess.run([IDENTIFY, "-r", TRID + " Alt_Traddr:x"], capture_output=True,
                       text=True, timeout=30)
    refused("nvme_identify -r '... Alt_Traddr:x' (keys are case-insensitive)", r, "alt_traddr")


# ---------------------------------------------------------------- perf options

def test_warmup(p):
    print("-a warm-up")
    before = bdev_ops("Malloc0") + bdev_ops("Malloc1")
    t0 = time.time()
    r = perf("-q", "8", "-o", "4096", "-w", "randread", "-a", "2", "-t", "1", "--json",
             "-r", TRID)
    took = time.time() - t0
    check_run("-a 2 -t 1", r, nsids=[1, 2])
    check("Warming up for 2 seconds" in r.stdout, "it announces the warm-up")
    tot = [json.loads(l) for l in r.stdout.splitlines() if l.startswith('{"tool"')]
    tot = [t for t in tot if t.get("device") == "Total"]
    target = bdev_ops("Malloc0") + bdev_ops("Malloc1") - before
    if not tot:
        check(False, "--json Total line")
        return
    ios, iops = tot[0]["ios"], tot[0]["iops"]
    secs = ios / iops if iops else 0
    check(took >= 3.0, "the run lasts warm-up + time (%.1f s)" % took)
    # The counted window starts when the warm-up ends and lasts -t (longer only when
    # the loaded machine stalls the worker): at least 1 s, well short of the 3 s total.
    check(0.95 <= secs <= 2.2, "the counted I/O covers the 1 s run, not the warm-up "
          "(ios / iops = %.2f s)" % secs)
    check(target >= 1.3 * ios, "the target served the warm-up too: %d I/Os there, %d counted"
          % (target, ios))


def test_max_completions(p):
    print("-C max completions per poll, --transport-stats")
    r = perf("-q", "32", "-o", "4096", "-w", "randread", "-t", "1", "-P", "2",
             "--transport-stats", "-r", TRID + " ns:1")
    check_run("--transport-stats -P 2", r, nsids=[1])
    lines = re.findall(r"^TCP .* NSID 1 from core +\d+ qpair (\d+): polls (\d+), idle_polls "
                       r"(\d+), completions (\d+), max_completions_per_poll (\d+), submitted "
                       r"(\d+), queue_full (\d+)$", r.stdout, re.M)
    check(len(lines) == 2 and len({l[0] for l in lines}) == 2,
          "one statistics line per I/O qpair (%d)" % len(lines))
    t = total(r)
    comps = sum(int(l[3]) for l in lines)
    check(t is not None and comps >= t[0] * 0.9 and
          all(int(l[5]) >= int(l[3]) > 0 and int(l[1]) > int(l[2]) for l in lines),
          "completions match the I/O done (%d for %.0f IOPS), submitted >= completed, "
          "polls > idle polls" % (comps, t[0] if t else 0))
    tl = re.findall(r"qpair \d+: polls .* completions (\d+), .*\n    transport: pdus_received "
                    r"(\d+), send_requests (\d+), sends (\d+), bytes_sent (\d+), receives (\d+), "
                    r"bytes_received (\d+)$", r.stdout, re.M)
    check(len(tl) == 2 and all(int(pdus) >= int(c) and int(breq) >= int(c) and
                               int(brx) >= 4096 * int(c) and int(sends) > 0 and int(rx) > 0 and
                               int(btx) >= 72 * int(c)
                               for c, pdus, breq, sends, btx, rx, brx in tl),
          "per qpair, NVMe/TCP counters that fit the I/O: PDUs received >= completions, "
          "4 KiB read per completion, a 72-byte capsule sent per I/O (%s)" % (tl,))
    big = max((int(l[4]) for l in lines), default=0)
    check(big > 1, "without -C a poll completes several I/Os at qd 32 (max %d)" % big)
    check(re.search(r"^Total: polls \d+, idle_polls \d+, completions \d+", r.stdout, re.M),
          "a Total statistics line")
    r = perf("-q", "32", "-o", "4096", "-w", "randread", "-t", "1", "-C", "1",
             "--transport-stats", "-r", TRID + " ns:1")
    check_run("-C 1", r, nsids=[1])
    m = re.search(r"^Total: .*max_completions_per_poll (\d+)", r.stdout, re.M)
    check(m is not None and int(m.group(1)) == 1,
          "-C 1: no poll completes more than 1 I/O (max %s)" % (m.group(1) if m else None))
    r = perf("-q", "32", "-o", "4096", "-w", "randread", "-t", "1", "-C", "4",
             "--transport-stats", "-r", TRID + " ns:1")
    m = re.search(r"^Total: .*max_completions_per_poll (\d+)", r.stdout, re.M)
    check(r.returncode == 0 and m is not None and 1 <= int(m.group(1)) <= 4,
          "-C 4: at most 4 per poll (max %s)" % (m.group(1) if m else None))


def test_core_list(p):
    print("-c as a core list")
    core = 1 if CORES == "0x2" else 0
    r = subprocess.run([PERF, "-c", "[%d]" % core, "-q", "4", "-o", "4096", "-w", "randread",
                        "-t", "1", "-r", TRID + " ns:1"], capture_output=True, text=True,
                       timeout=60)
    r.cmd = "nvme_perf -c [%d]" % core
    check_run("-c [%d]" % core, r, nsids=[1])
    check(re.search(r"NSID 1 from core +%d:" % core, r.stdout) is not None,
          "the worker runs on core %d" % core)
    for bad in ("[1", "[a]", "[2-1]", "[0,]", "[999]", "0xg"):
        r = subprocess.run([PERF, "-c", bad, "-q", "4", "-o", "4096", "-w", "randread", "-t",
                            "1", "-r", TRID], capture_output=True, text=True, timeout=60)
        r.cmd = "nvme_perf -c " + bad
        refused("-c " + bad, r, "invalid core mask '%s'" % bad)


def test_latency(p):
    print("-L / -LL")
    r = perf("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-L", "-r", TRID + " ns:1")
    check_run("-L", r)
    check("Summary latency data for" in r.stdout and "Latency histogram" not in r.stdout,
          "-L: percentiles, no histogram")
    r = perf("-q", "8", "-o", "4096", "-w", "randread", "-t", "1", "-LL", "-r", TRID + " ns:1")
    check_run("-LL", r)
    check("Latency histogram for" in r.stdout and
          re.search(r"^ *[\d.]+ - +[\d.]+: +100\.0000%  \( *\d+\)$", r.stdout, re.M),
          "-LL: the histogram, up to 100 %")
    r = perf("-q", "8", "-o", "4096", "-w", "randread", "-t", "1",
             "--enable-sw-latency-tracking", "-r", TRID + " ns:1")
    check(r.returncode == 0 and "Summary latency data for" in r.stdout,
          "--enable-sw-latency-tracking (SPDK's long name) is -L")


def proxy_trid(extra=""):
    return "trtype:TCP traddr:127.0.0.1 trsvcid:%d subnqn:%s ns:1%s" % (PROXY_PORT, NQN, extra)


def test_digests(p, px):
    print("-H / -I digests (seen in a capture)")
    px.reset()
    r = perf("-q", "4", "-o", "16384", "-w", "randrw", "-V", "-t", "1", "-H", "-I",
             "-r", proxy_trid())
    check_run("-H -I 16 KiB randrw verify through the capture", r, nsids=[1])
    check(px.icreq_dgst and all(d == 3 for d in px.icreq_dgst) and
          px.icresp_dgst and all(d == 3 for d in px.icresp_dgst),
          "every ICReq asks for HDGST+DDGST and every ICResp grants both (%s / %s)"
          % (px.icreq_dgst, px.icresp_dgst))
    cap = px.count(px.pdus, "h2c", 0x04)
    check(cap > 0 and px.count(px.hdgst, "h2c", 0x04) == cap and
          px.count(px.hdgst, "c2h", 0x05) == px.count(px.pdus, "c2h", 0x05) > 0,
          "every CapsuleCmd and CapsuleResp carries a header digest (%d capsules)" % cap)
    c2h = px.count(px.pdus, "c2h", 0x07)
    h2c = px.count(px.pdus, "h2c", 0x06)
    icd = px.count(px.ddgst, "h2c", 0x04)
    check(c2h > 0 and px.count(px.ddgst, "c2h", 0x07) == c2h and
          px.count(px.ddgst, "h2c", 0x06) == h2c and h2c + icd > 0,
          "every C2HData and H2CData (and in-capsule data) carries a data digest (%d C2H, "
          "%d H2C, %d in-capsule)" % (c2h, h2c, icd))
    for opts, want in ((["-H"], 1), (["-I"], 2), ([], 0)):
        px.reset()
        r = perf("-q", "4", "-o", "4096", "-w", "randrw", "-V", "-t", "1", *opts,
                 "-r", proxy_trid())
        check(r.returncode == 0 and px.icreq_dgst and all(d == want for d in px.icreq_dgst)
              and all(d == want for d in px.icresp_dgst) and
              (want & 1 or px.count(px.hdgst, "h2c", 0x04) == 0),
              "%s: ICReq/ICResp DGST %d, verify passes (%s)" % (" ".join(opts) or "no digest",
                                                               want, px.icreq_dgst))
    r = perf("-q", "32", "-o", "4096", "-w", "randrw", "-V", "-t", "2", "-H", "-I", "-P", "4",
             "-r", TRID)
    check_run("4 KiB randrw verify, -H -I -P 4 (direct)", r, nsids=[1, 2])
    r = perf("-q", "16", "-o", "131072", "-w", "randrw", "-V", "-t", "2", "-H", "-I", "-P",
             "4", "-r", TRID)
    check_run("128 KiB randrw verify, -H -I -P 4 (direct)", r, nsids=[1, 2])


def test_keepalive(p, px):
    print("-k keep alive (Keep Alive commands in the capture)")
    px.reset()
    r = perf("-q", "2", "-o", "4096", "-w", "randread", "-t", "3", "-k", "1000",
             "-r", proxy_trid())
    check_run("-k 1000 -t 3", r, nsids=[1])
    ka = px.admin_opcodes.count(0x18)
    check(4 <= ka <= 12, "about one Keep Alive every KATO/2 = 0.5 s on the admin queue (%d)"
          % ka)
    px.reset()
    r = perf("-q", "2", "-o", "4096", "-w", "randread", "-t", "2", "-k", "0",
             "-r", proxy_trid())
    check_run("-k 0", r, nsids=[1])
    check(px.admin_opcodes.count(0x18) == 0 and len(px.admin_opcodes) > 0,
          "-k 0: no Keep Alive at all (admin opcodes seen: %s)" % sorted(set(px.admin_opcodes)))


def test_shutdown(p, px):
    print("-N: no shutdown notification (CC.SHN seen in the capture)")

    def shn_sets():
        # CC (offset 14h) written with SHN (bits 15:14) = 01b, normal shutdown.
        return [v for o, v in px.prop_sets if o == 0x14 and (v >> 14) & 3 == 1]
    px.reset()
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-r", proxy_trid())
    check_run("default", r, nsids=[1])
    check(len(shn_sets()) == 1, "by default the controller is notified of a normal shutdown "
          "at the end (Property Set CC.SHN = 01b: %s)" % [hex(v) for v in shn_sets()])
    px.reset()
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-V", "-t", "1", "-N", "-r",
             proxy_trid())
    check_run("-N", r, nsids=[1])
    check(len(px.prop_sets) >= 1 and shn_sets() == [],
          "-N: no CC.SHN write (Property Sets: %s)" % [(hex(o), hex(v)) for o, v in
                                                       px.prop_sets])
    px.reset()
    r = perf("-q", "8", "-o", "4096", "-w", "randrw", "-t", "1", "--no-shst-notification",
             "-r", proxy_trid())
    check_run("--no-shst-notification", r, nsids=[1])
    check(shn_sets() == [], "--no-shst-notification: no CC.SHN write either")


def test_misc_opts(p):
    print("--zerocopy-threshold")
    if shutil.which("strace") is None:
        check(False, "strace is needed to see MSG_ZEROCOPY")
        return
    st = ("strace", "-f", "-qq", "-e", "trace=setsockopt,sendmsg", "-e", "signal=none",
          "-o", "/dev/stderr")
    r = perf("-q", "4", "-o", "131072", "-w", "randwrite", "-V", "-t", "1",
             "--zerocopy-threshold", "65536", "-r", TRID + " ns:1", prefix=st)
    check_run("--zerocopy-threshold 65536, 128 KiB writes verify (under strace)", r,
              nsids=[1])
    zc = len(re.findall(r"sendmsg\(.*MSG_ZEROCOPY", r.stderr))
    check("SO_ZEROCOPY" in r.stderr and zc > 0,
          "SO_ZEROCOPY on the sockets and %d sendmsg with MSG_ZEROCOPY" % zc)
    r = perf("-q", "4", "-o", "131072", "-w", "randwrite", "-t", "1", "-r", TRID + " ns:1",
             prefix=st)
    check(r.returncode == 0 and "MSG_ZEROCOPY" not in r.stderr,
          "without it: no MSG_ZEROCOPY send (the client default copies)")
    r = perf("-q", "4", "-o", "4096", "-w", "randwrite", "-t", "1", "--zerocopy-threshold",
             "0", "--zerocopy-threshold-sock-impl", "posix", "-r", TRID + " ns:1")
    check_run("--zerocopy-threshold 0 --zerocopy-threshold-sock-impl posix", r, nsids=[1])


def test_bad_values(p):
    print("bad option values")
    base = ["-q", "4", "-o", "4096", "-w", "read", "-t", "1", "-r", TRID]
    cases = (
        (["-C", "0"], ("max completions per poll", "-C")),
        (["-C", "abc"], ("invalid number 'abc'", "-C")),
        (["-C", "-3"], ("invalid number '-3'", "-C")),
        (["-a", "-1"], ("invalid number '-1'", "-a")),
        (["-a", "100001"], ("warm-up time", "-a")),
        (["-q", "-8"], ("invalid number '-8'", "-q")),
        (["-P", "0"], ("-P",)),
        (["-P", "-2"], ("invalid number '-2'", "-P")),
        (["-t", "-1"], ("invalid number '-1'", "-t")),
        (["-k", "-5"], ("keep alive timeout '-5'",)),
        (["--zerocopy-threshold", "-5"], ("invalid number '-5'", "--zerocopy-threshold")),
        (["--zerocopy-threshold", "0", "--zerocopy-threshold-sock-impl", "nosuch"],
         ("socket implementation 'nosuch'",)),
        (["--zerocopy-threshold-sock-impl", "posix"], ("needs --zerocopy-threshold",)),
    )
    for extra, needles in cases:
        refused(" ".join(extra), perf(*base[:-2], *extra, *base[-2:]), *needles)
    check(alive(p), "target still serving")


def body():
    p = start_tgt()
    if not setup(p):
        return
    test_hostnqn(p)
    test_hostaddr(p)
    test_ns(p)
    test_alt_traddr(p)
    test_priority(p)
    test_bad_keys(p)
    test_warmup(p)
    test_max_completions(p)
    test_latency(p)
    test_core_list(p)
    px = Proxy(PROXY_PORT, PORT)
    try:
        test_digests(p, px)
        test_keepalive(p, px)
        test_shutdown(p, px)
    finally:
        px.close()
    test_misc_opts(p)
    test_bad_values(p)
    check(stop_tgt(p) == 0, "nvmf_tgt exits 0 on SIGTERM")


if __name__ == "__main__":
    for b in (PERF, IDENTIFY):
        if not os.access(b, os.X_OK):
            print("no %s: build first (make)" % b)
            print("0 passed, 1 failed")
            sys.exit(1)
    sys.exit(run(body))

"""Shared harness of Osprey's end-to-end tests: start and stop osprey_tgt,
drive it with scripts/rpc.py or raw JSON-RPC, count checks, scan daemon logs
for sanitizer reports. Standard library only.

Use: sys.path.insert(0, <root>/test/common); from osp_e2e import *; write
test functions that take the daemon process; end with sys.exit(run(body)).
Environment: OSPREY_BIN_DIR (default build/bin) picks the binaries to test.

Two runs of a suite on one machine must not collide: sockets and files go in a
mkdtemp directory (TMP), and TCP ports are picked free at run time with
free_port() / free_ports() (each suite's own variable still fixes them).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
TGT = os.path.join(BIN_DIR, "osprey_tgt")
RPC = os.path.join(ROOT, "scripts", "rpc.py")
TMP = tempfile.mkdtemp(prefix="osp_e2e_")
SOCK = os.path.join(TMP, "rpc.sock")
DEADLINE = time.time() + 420   # the whole run, whatever hangs

_counts = {"passed": 0, "failed": 0}


def _is_asan_build(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# Daemons built with ASan keep freed memory in quarantine (256 MB by default)
# and shadow every byte: RSS bounds only mean something on a plain build.
ASAN_BUILD = _is_asan_build(TGT)


def check_rss(grew_kb, limit_kb, what):
    """A memory bound, checked on plain builds; reported as skipped under ASan."""
    if ASAN_BUILD:
        print("  skip %s: %d KiB (RSS bounds are not checked under ASan)" % (what, grew_kb))
        sys.stdout.flush()
        return True
    return check(grew_kb < limit_kb, "%s: %d KiB (< %d KiB)" % (what, grew_kb, limit_kb))
procs = []


def check(cond, what):
    if cond:
        _counts["passed"] += 1
        print("  ok   " + what)
    else:
        _counts["failed"] += 1
        print("  FAIL " + what)
    sys.stdout.flush()
    return cond


def time_left():
    return max(1.0, DEADLINE - time.time())


def wait_for(cond, timeout=10.0):
    deadline = time.time() + min(timeout, time_left())
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


# ---- ports ----

def free_ports(n, env=None):
    """n distinct TCP ports free on 127.0.0.1 right now: bind n sockets to port 0
    (all at once, so the kernel hands out n different ports), read the ports,
    close. If the environment variable env is set, its value P gives P, P+1, ...
    instead (a port an operator chose, e.g. one a firewall lets through).
    The ports are free, not reserved: the daemon binds them a moment later; the
    kernel picks ephemeral ports in turn, so another run getting the same one in
    between is unlikely."""
    if env and os.environ.get(env):
        base = int(os.environ[env])
        return [base + i for i in range(n)]
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(env=None):
    """One free TCP port on 127.0.0.1 (or int($env) if set), as free_ports()."""
    return free_ports(1, env)[0]


# ---- the daemon ----

def start_tgt(*args):
    """Start osprey_tgt -m 0x1 on SOCK; return once its JSON config is loaded."""
    log = open(os.path.join(TMP, "tgt_%d.log" % len(procs)), "w+", errors="replace")
    p = subprocess.Popen([TGT, "-r", SOCK, "-m", "0x1", *args], stdout=log,
                         stderr=subprocess.STDOUT)
    p.logfile = log
    procs.append(p)
    deadline = time.time() + min(30, time_left())
    while time.time() < deadline:
        if p.poll() is not None:
            break
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(SOCK)
            s.close()
            if rpc_ok("framework_wait_init"):
                return p
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("osprey_tgt did not come up:\n" + tgt_log(p))


def tgt_log(p):
    p.logfile.flush()
    p.logfile.seek(0)
    return p.logfile.read()


def stop_tgt(p, timeout=15.0):
    """SIGTERM a daemon we started; its exit code (None if it needed SIGKILL)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(min(timeout, time_left()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def alive(p):
    return p.poll() is None and rpc_ok("spdk_get_version")


# ---- RPC ----

def rpc(*args):
    return subprocess.run([sys.executable, RPC, "-s", SOCK, "-t", "20", *args],
                          capture_output=True, text=True, timeout=min(60, time_left()))


def rpc_ok(*args):
    return rpc(*args).returncode == 0


def rpc_out(*args):
    """stdout of a successful call, stripped; None on failure."""
    r = rpc(*args)
    if r.returncode != 0:
        print("    rpc.py %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return None
    return r.stdout.strip()


def rpc_json(*args):
    r = rpc(*args)
    if r.returncode != 0:
        print("    rpc.py %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return None
    return json.loads(r.stdout) if r.stdout.strip() else None


def raw_call(method, params=None, sock=None, timeout=20):
    """One JSON-RPC request on a fresh connection to sock (default: the
    daemon's SOCK); returns the response object."""
    req = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        req["params"] = params
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(min(timeout, time_left()))
    s.connect(sock or SOCK)
    s.sendall(json.dumps(req).encode())
    buf = b""
    dec = json.JSONDecoder()
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            try:
                obj, _ = dec.raw_decode(buf.decode().lstrip())
                return obj
            except ValueError:
                continue
    finally:
        s.close()
    return {}


def check_error(p, what, args, *needles, raw=None):
    """args (an rpc.py command) or raw (method, params) must fail with a message
    holding every needle (case-insensitive); the daemon must still answer."""
    if raw is not None:
        resp = raw_call(*raw)
        err = resp.get("error")
        text = json.dumps(err) if err else ""
        failed_ok = err is not None
    else:
        r = rpc(*args)
        text = r.stdout + r.stderr
        failed_ok = r.returncode != 0
    low = text.lower()
    missing = [n for n in needles if n.lower() not in low]
    ok = failed_ok and not missing
    check(ok, "%s -> error naming %s" % (what, ", ".join(repr(n) for n in needles)))
    if not ok:
        print("    got: %s" % text.strip().replace("\n", " ")[:400])
    check(alive(p), "  daemon still serving after: %s" % what)


# ---- the run ----

def run(body):
    """Run body() (which starts daemons as it needs); then stop every daemon
    still running, check their logs for sanitizer reports, print
    "N passed, N failed" and return the exit status."""
    if not os.access(TGT, os.X_OK):
        print("no %s: build first (make)" % TGT)
        print("0 passed, 1 failed")
        return 1
    try:
        body()
    except Exception as e:   # a crashed or hung daemon ends the run as a failure
        check(False, "unexpected: %r" % e)
    finally:
        for q in procs:
            if q.poll() is None:
                stop_tgt(q, timeout=5)
        reports = [i for i, q in enumerate(procs)
                   if any(k in tgt_log(q) for k in ("AddressSanitizer", "LeakSanitizer",
                                                    "runtime error:"))]
        check(not reports, "no sanitizer reports in the daemon logs %s" % reports)
        if _counts["failed"]:
            for i, q in enumerate(procs):
                print("---- daemon log %d (tail) ----" % i)
                print(tgt_log(q)[-3000:])
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (_counts["passed"], _counts["failed"]))
    return 1 if _counts["failed"] else 0

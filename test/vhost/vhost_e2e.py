"""What the vhost end-to-end tests share: start the vhost app (or bdevperf)
with its own RPC socket, call it, check an RPC error and that the app still
serves, run bdevperf once and read its Total line. On test/common/osp_e2e.py."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from osp_e2e import BIN_DIR, TMP, check, procs, raw_call, tgt_log, wait_for  # noqa: E402

VHOST = os.path.join(BIN_DIR, "vhost")
BDEVPERF = os.path.join(BIN_DIR, "bdevperf")
SOCKDIR = os.path.join(TMP, "vsock")
SANITIZER_KEYS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def start_app(argv, sock, tag, env_extra=None, what="vhost"):
    """Start an Osprey app whose RPC socket is sock; wait for framework init."""
    env = dict(os.environ)
    env.update(env_extra or {})
    log = open(os.path.join(TMP, "%s.log" % tag), "w+", errors="replace")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    p.logfile = log
    p.sock = sock
    procs.append(p)
    ok = wait_for(lambda: p.poll() is not None or
                  (os.path.exists(sock) and "result" in raw_call("framework_wait_init", sock=sock)), 30)
    if not ok or p.poll() is not None:
        raise RuntimeError("%s did not come up:\n%s" % (what, tgt_log(p)))
    return p


def start_vhost(tag="vhost", extra=(), env_extra=None, sock=None, core_mask="0x1"):
    os.makedirs(SOCKDIR, exist_ok=True)
    sock = sock or os.path.join(TMP, "%s_rpc.sock" % tag)
    if os.path.exists(sock):
        os.unlink(sock)     # left by a daemon that was killed
    return start_app([VHOST, "-r", sock, "-m", core_mask, "-S", SOCKDIR, *extra], sock, tag,
                     env_extra)


def call(p, method, params=None):
    return raw_call(method, params, sock=p.sock)


def alive(p):
    return p.poll() is None and "result" in call(p, "spdk_get_version")


def check_rpc_error(p, what, method, params, *needles):
    """The call fails with an error naming every needle, and p still serves."""
    resp = call(p, method, params)
    text = json.dumps(resp.get("error")) if resp.get("error") else ""
    missing = [n for n in needles if n.lower() not in text.lower()]
    check("error" in resp and not missing,
          "%s -> error naming %s" % (what, ", ".join(repr(n) for n in needles)))
    if missing or "error" not in resp:
        print("    got: %s" % json.dumps(resp)[:400])
    check(alive(p), "  still serving after: %s" % what)


def write_bdev_config(path, calls):
    with open(path, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": m, "params": prm} for m, prm in calls]}]}, f)
    return path


def bdevperf(cfg, *args, timeout=60):
    """One bdevperf run (rc, output); a sanitizer report fails a check."""
    try:
        r = subprocess.run([BDEVPERF, "--json", cfg, *args], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return -999, str(e.stdout or "") + "\n[timed out]"
    out = r.stdout + r.stderr
    bad = [k for k in SANITIZER_KEYS if k in out]
    if not check(not bad, "no sanitizer report from bdevperf %s" % " ".join(args[-4:])):
        print(out[-3000:])
    return r.returncode, out


def total_line(out):
    """bdevperf's Total line: {"iops", "fail_s"} or None."""
    for line in out.splitlines():
        if line.startswith(" Total"):
            f = line.split(":")[1].split()
            return {"iops": float(f[0]), "fail_s": float(f[2])}
    return None

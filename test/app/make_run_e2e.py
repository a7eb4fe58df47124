"""`make run` as a new user meets it (scripts/run_default.sh, what `make run`
executes after building): it must start a target that serves a namespace over
NVMe/TCP, print the commands that reach it, and those commands must work.
Ports are picked free at run time; nothing needs hugepages or root."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
from osp_e2e import *   # noqa: F401,F403

SCRIPT = os.path.join(ROOT, "scripts", "run_default.sh")


def start_run(env_extra):
    env = dict(os.environ)
    env.update(env_extra)
    log = open(os.path.join(TMP, "make_run_%d.log" % len(env_extra)), "w+")
    p = subprocess.Popen(["bash", SCRIPT], cwd=ROOT, env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    p.logfile = log
    return p


def out_of(p):
    p.logfile.flush()
    with open(p.logfile.name) as f:
        return f.read()


def body():
    port = free_port()
    sock = os.path.join(TMP, "run.sock")
    nqn = "nqn.2026-12.io.osprey:makerun"
    p = start_run({"OSPREY_PORT": str(port), "OSPREY_RPC_SOCK": sock,
                   "OSPREY_SIZE_MB": "16", "OSPREY_NQN": nqn})
    try:
        ok = wait_for(lambda: "Ctrl-C stops it." in out_of(p) or p.poll() is not None, 30)
        text = out_of(p)
        check(ok and p.poll() is None, "make run starts and stays up")
        check("ready, RPC socket %s" % sock in text, "the RPC socket is announced")
        check(re.search(r"^\s*%s 127\.0\.0\.1 %d$" % (re.escape(nqn), port), text, re.M),
              "the listener is up on 127.0.0.1:%d (read back over RPC)" % port)
        check("nvme connect -t tcp -a 127.0.0.1 -s %d -n %s" % (port, nqn) in text,
              "the Linux nvme connect line names address, port and NQN")
        check("16 MiB RAM disk" in text, "the size setting is used")

        # Run the printed Osprey commands as a user would paste them.
        lines = {l.split()[0]: l.strip() for l in text.splitlines()
                 if l.strip().startswith(("build/bin/nvme_identify", "build/bin/nvme_perf"))}
        ident = lines.get("build/bin/nvme_identify")
        check(ident is not None, "an nvme_identify line is printed")
        if ident:
            r = subprocess.run(shlex.split(ident), cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
            check(r.returncode == 0 and "Osprey" in r.stdout,
                  "the printed nvme_identify line works (rc %d)" % r.returncode)
            check("4096" in r.stdout, "identify shows the 4 KiB blocks of the RAM disk")
        perf = lines.get("build/bin/nvme_perf")
        check(perf is not None, "an nvme_perf line is printed")
        if perf:
            args = shlex.split(perf)
            # Shorter, with data verification: the namespace must really hold data.
            args[args.index("-t") + 1] = "2"
            args[args.index("-w") + 1] = "randrw"
            args += ["-M", "50", "-V"]
            r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=90)
            check(r.returncode == 0 and "0 miscompares" in r.stdout,
                  "the printed nvme_perf line works, verify passes (rc %d)" % r.returncode)
        rpc_lines = [l.strip() for l in text.splitlines()
                     if l.strip().startswith("scripts/rpc.py") and "bdev_get_bdevs" in l]
        check(rpc_lines, "an rpc.py example is printed")
        if rpc_lines:
            r = subprocess.run(shlex.split(rpc_lines[0]), cwd=ROOT, capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 0 and '"Malloc0"' in r.stdout,
                  "the printed rpc.py example works")
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)   # what Ctrl-C's SIGINT does to the group
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
    check(rc == 0, "stopping make run ends the daemon cleanly (rc %s)" % rc)
    check(not os.path.exists(sock), "the RPC socket is removed")

    # Bad settings are refused with a message, before anything starts.
    for env, needle in (({"OSPREY_PORT": "70000"}, "not a TCP port"),
                        ({"OSPREY_SIZE_MB": "0"}, "not a size"),
                        ({"OSPREY_CONFIG": "/nonexistent.json"}, "cannot be read")):
        q = start_run(dict(env, OSPREY_RPC_SOCK=os.path.join(TMP, "bad.sock")))
        rc = q.wait(timeout=20)
        check(rc != 0 and needle in out_of(q), "make run refuses %s" % env)


sys.exit(run(body))

#!/usr/bin/env python3
"""End-to-end tests of the daemon spine: osprey_tgt driven with scripts/rpc.py
and raw JSON-RPC on its Unix socket, the way users and bad clients do."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TGT = os.path.join(os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin")), "osprey_tgt")
RPC = os.path.join(ROOT, "scripts", "rpc.py")
TMP = tempfile.mkdtemp(prefix="osp_e2e_")

passed = 0
failed = 0
procs = []


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("  ok   " + what)
    else:
        failed += 1
        print("  FAIL " + what)
    return cond


def start_tgt(sock, *args, wait=True):
    log = open(os.path.join(TMP, "tgt_%d.log" % len(procs)), "w+")
    p = subprocess.Popen([TGT, "-r", sock, *args], stdout=log, stderr=subprocess.STDOUT)
    p.logfile = log
    procs.append(p)
    if wait:
        deadline = time.time() + 20
        while time.time() < deadline:
            if p.poll() is not None:
                break
            if os.path.exists(sock):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sock)
                    s.close()
                    return p
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("osprey_tgt did not come up:\n" + tgt_log(p))
    return p


def tgt_log(p):
    p.logfile.flush()
    p.logfile.seek(0)
    return p.logfile.read()


def stop_tgt(p, sig=signal.SIGTERM, timeout=5.0):
    if p.poll() is None:
        p.send_signal(sig)
    t0 = time.time()
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        return rc, None
    return rc, time.time() - t0


def rpc(sock, *args, check_rc=True):
    r = subprocess.run([sys.executable, RPC, "-s", sock, *args], capture_output=True, text=True,
                       timeout=30)
    if check_rc and r.returncode != 0:
        raise RuntimeError("rpc.py %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def rpc_json(sock, *args):
    out = rpc(sock, *args).stdout
    return json.loads(out) if out.strip() else None


def rpc_ok(sock, *args):
    return rpc(sock, *args, check_rc=False).returncode == 0


def raw(sock, data, timeout=5.0, want_close=False):
    """Send bytes; return (responses parsed so far, closed_by_server)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf = b""
    closed = False
    dec = json.JSONDecoder()
    deadline = time.time() + timeout
    out = []
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        text = buf.decode(errors="replace").lstrip()
        out = []
        try:
            while text:
                obj, end = dec.raw_decode(text)
                out.append(obj)
                text = text[end:].lstrip()
            if out and not want_close:
                break
        except ValueError:
            continue
    s.close()
    if not out and buf:
        text = buf.decode(errors="replace").lstrip()
        try:
            while text:
                obj, end = dec.raw_decode(text)
                out.append(obj)
                text = text[end:].lstrip()
        except ValueError:
            pass
    return out, closed


def req(method, params=None, id=1):
    r = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        r["params"] = params
    return json.dumps(r).encode()


def test_basic(sock):
    print("basic RPCs on osprey_tgt -m 0x3")
    reactors = rpc_json(sock, "framework_get_reactors")
    cores = sorted(r["lcore"] for r in reactors["reactors"])
    check(cores == [0, 1], "framework_get_reactors lists cores 0 and 1 (%s)" % cores)
    names = [t["name"] for r in reactors["reactors"] for t in r["lw_threads"]]
    check("app_thread" in names, "app_thread is placed on a reactor")
    check(reactors["tick_rate"] > 0, "tick_rate reported")

    methods = rpc_json(sock, "rpc_get_methods")
    for m in ["rpc_get_methods", "spdk_get_version", "framework_start_init",
              "framework_wait_init", "framework_get_subsystems", "framework_get_config",
              "framework_get_reactors", "thread_get_stats", "thread_get_pollers",
              "save_config", "spdk_kill_instance", "log_set_level", "log_get_level",
              "log_set_print_level", "log_get_print_level", "log_set_flag",
              "log_clear_flag", "log_get_flags"]:
        check(m in methods, "method %s registered" % m)
    current = rpc_json(sock, "rpc_get_methods", "--current")
    check("framework_start_init" not in current and "save_config" in current,
          "rpc_get_methods --current reflects the runtime state")

    ver = rpc_json(sock, "spdk_get_version")
    check(isinstance(ver, dict) and ver.get("version", "").startswith("Osprey")
          and "fields" in ver, "spdk_get_version in SPDK's shape: %s" % ver)
    check(rpc_ok(sock, "framework_wait_init"), "framework_wait_init true")

    stats = rpc_json(sock, "thread_get_stats")
    check(any(t["name"] == "app_thread" for t in stats["threads"]), "thread_get_stats lists app_thread")
    pollers = rpc_json(sock, "thread_get_pollers")
    allp = [p["name"] for t in pollers["threads"]
            for k in ("active_pollers", "timed_pollers", "paused_pollers") for p in t[k]]
    check(any("rpc" in n for n in allp), "thread_get_pollers shows the rpc poller (%s)" % allp)

    app_id = [t["id"] for t in stats["threads"] if t["name"] == "app_thread"][0]
    r = rpc(sock, "thread_set_cpumask", "-i", str(app_id), "-m", "0x2", check_rc=False)
    check(r.returncode != 0 and "app thread" in (r.stdout + r.stderr),
          "thread_set_cpumask refuses to move the app thread")
    r = rpc(sock, "thread_set_cpumask", "-i", "9999", "-m", "0x2", check_rc=False)
    check(r.returncode != 0 and "9999" in (r.stdout + r.stderr),
          "thread_set_cpumask names an unknown thread id")
    r = rpc(sock, "thread_set_cpumask", "-i", str(app_id), "-m", "0x10", check_rc=False)
    check(r.returncode != 0 and "cpumask" in (r.stdout + r.stderr),
          "thread_set_cpumask refuses a mask with no reactor")

    subs = rpc_json(sock, "framework_get_subsystems")
    check(any(s["subsystem"] == "log" for s in subs), "framework_get_subsystems lists log")

    # Log methods.
    check(rpc_ok(sock, "log_set_level", "INFO"), "log_set_level INFO")
    check(rpc_json(sock, "log_get_level") == "INFO", "log_get_level INFO")
    check(rpc_ok(sock, "log_set_print_level", "WARNING"), "log_set_print_level")
    check(rpc_json(sock, "log_get_print_level") == "WARNING", "log_get_print_level WARNING")
    check(rpc_ok(sock, "log_set_flag", "reactor"), "log_set_flag reactor")
    flags = rpc_json(sock, "log_get_flags")
    check(flags.get("reactor") is True and flags.get("app") is False, "log_get_flags shows reactor set")
    check(rpc_ok(sock, "log_clear_flag", "reactor"), "log_clear_flag reactor")
    check(rpc_json(sock, "log_get_flags").get("reactor") is False, "flag cleared")
    r = rpc(sock, "log_set_flag", "no_such_flag", check_rc=False)
    check(r.returncode != 0 and "no_such_flag" in (r.stdout + r.stderr),
          "unknown log flag is an error naming it")
    r = rpc(sock, "log_set_level", "LOUD", check_rc=False)
    check(r.returncode != 0 and "level" in (r.stdout + r.stderr), "bad level is an error")


def test_errors(sock):
    print("JSON-RPC errors")
    out, _ = raw(sock, req("no_such_method"))
    check(out and out[0].get("error", {}).get("code") == -32601, "unknown method -> -32601")
    out, _ = raw(sock, req("log_set_level", {"level": 5}))
    e = out[0].get("error", {}) if out else {}
    check(e.get("code") == -32602 and "level" in e.get("message", ""),
          "wrong type -> -32602 naming 'level' (%s)" % e)
    out, _ = raw(sock, req("log_set_level", {"level": "INFO", "bogus": 1}))
    e = out[0].get("error", {}) if out else {}
    check(e.get("code") == -32602 and "bogus" in e.get("message", ""), "unknown parameter named")
    out, _ = raw(sock, req("framework_get_config", {}))
    e = out[0].get("error", {}) if out else {}
    check(e.get("code") == -32602 and "name" in e.get("message", ""), "missing parameter named")
    out, _ = raw(sock, b'{"jsonrpc":"2.0","id":7}')
    check(out and out[0].get("error", {}).get("code") == -32600, "no method -> -32600")
    out, _ = raw(sock, b'{"jsonrpc":"1.0","method":"log_get_level","id":7}')
    check(out and out[0].get("error", {}).get("code") == -32600, "wrong version -> -32600")
    out, _ = raw(sock, req("framework_start_init"))
    check(out and out[0].get("error", {}).get("code") == -1,
          "startup-only method at runtime -> state error")
    # Pipelined requests and a batch in one write; a split request.
    out, _ = raw(sock, req("log_get_level", id=1) + req("log_get_print_level", id=2), want_close=False)
    if len(out) < 2:
        more, _ = raw(sock, b"")
    check(len(out) >= 1 and out[0].get("id") == 1, "pipelined requests answered in order")
    batch = json.dumps([{"jsonrpc": "2.0", "method": "log_get_level", "id": "a"},
                        {"jsonrpc": "2.0", "method": "log_get_level"},
                        {"jsonrpc": "2.0", "method": "nope", "id": "c"}]).encode()
    out, _ = raw(sock, batch)
    check(out and isinstance(out[0], list) and [r.get("id") for r in out[0]] == ["a", "c"],
          "batch answered without the notification (%s)" % out)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    data = req("log_get_level", id=99)
    for b in data:
        s.send(bytes([b]))
    s.settimeout(5)
    resp = json.loads(s.recv(65536).decode())
    s.close()
    check(resp.get("id") == 99 and "result" in resp, "request sent one byte at a time")


def test_bad_input(sock):
    print("bad input on the socket; the daemon keeps serving others")
    bystander = socket.socket(socket.AF_UNIX)
    bystander.connect(sock)
    out, closed = raw(sock, b"this is not json}", want_close=True)
    check((out and out[0].get("error", {}).get("code") == -32700) or closed,
          "garbage -> parse error or close")
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(b'{"jsonrpc":"2.0","method":"log_get_le')
    s.close()
    check(True, "truncated request then hang-up")
    out, closed = raw(sock, b"[" * 100000 + b"]" * 100000, want_close=True)
    check((out and out[0].get("error", {}).get("code") in (-32700, -32600)) or closed,
          "100000-deep nesting -> error or close")
    big = b'{"jsonrpc":"2.0","method":"log_get_level","id":1,"params":{"x":"' + \
        b"a" * (40 * 1024 * 1024) + b'"}}'
    out, closed = raw(sock, big, timeout=20, want_close=True)
    check(closed, "40 MiB request -> connection closed")
    bystander.sendall(req("log_get_level", id=5))
    bystander.settimeout(5)
    resp = json.loads(bystander.recv(65536).decode())
    bystander.close()
    check(resp.get("id") == 5 and "result" in resp, "a connection opened before still served")
    check(rpc_json(sock, "log_get_level") is not None, "new clients still served")
    # Many clients at once.
    socks = []
    for i in range(20):
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        c.sendall(req("log_get_level", id=i))
        socks.append(c)
    ok = 0
    for i, c in enumerate(socks):
        c.settimeout(5)
        r = json.loads(c.recv(65536).decode())
        ok += r.get("id") == i
        c.close()
    check(ok == 20, "20 concurrent clients answered (%d)" % ok)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_rpc_limits(sock, p):
    print("RPC limits: clients that pipeline without reading, idle clients")
    nb = 200
    batch = json.dumps([{"jsonrpc": "2.0", "method": "bdev_malloc_create", "id": i,
                         "params": {"name": "Lim%d" % i, "num_blocks": 16, "block_size": 512}}
                        for i in range(nb)]).encode()
    out, _ = raw(sock, batch, timeout=20)
    check(out and isinstance(out[0], list) and all("result" in r for r in out[0]),
          "%d small malloc bdevs created" % nb)
    rss0 = rss_kb(p.pid)
    # 20 clients each pipeline 200 bdev_get_bdevs (~200 KB answers) and never read.
    hogs = []
    one = req("bdev_get_bdevs")
    for i in range(20):
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        c.setblocking(False)
        data = one * 200
        sent = 0
        deadline = time.time() + 2
        while sent < len(data) and time.time() < deadline:
            try:
                sent += c.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        hogs.append(c)
    peak = rss0
    t_end = time.time() + 3
    while time.time() < t_end:
        peak = max(peak, rss_kb(p.pid))
        time.sleep(0.1)
    t0 = time.time()
    ok = rpc_ok(sock, "log_get_level")
    dt = time.time() - t0
    peak = max(peak, rss_kb(p.pid))
    # The 20 clients' answers are made first (up to their ~4 MB bound each);
    # under ASan on a loaded 2-core machine that alone took 7.8 s once.
    limit = 20 if "ASAN_OPTIONS" in os.environ else 5
    check(ok and dt < limit, "rpc.py answered while 20 clients do not read (%.1f s, limit %d s)"
          % (dt, limit))
    # Unbounded, the answers take ~800 MB; bounded, ~4 MB per client.
    # Under ASan freed memory sits in quarantine (256 MB by default): no bound there.
    with open(TGT, "rb") as f:
        asan = b"__asan_init" in f.read()
    if asan:
        print("  skip daemon RSS growth with 4000 unread answers: %d MB (not bounded under ASan)"
              % ((peak - rss0) // 1024))
    else:
        check(peak - rss0 < 200 * 1024, "daemon RSS grew %d MB (< 200 MB) with 4000 unread "
              "answers" % ((peak - rss0) // 1024))
    # The hogs still get their answers, in order, once they read.
    c = hogs[0]
    c.setblocking(True)
    c.settimeout(10)
    buf = b""
    deadline = time.time() + 30
    while buf.count(b"\n") < 200 and time.time() < deadline:
        try:
            chunk = c.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
    check(buf.count(b"\n") == 200, "a client that reads at last gets all 200 answers (%d)"
          % buf.count(b"\n"))
    for c in hogs:
        c.close()
    # 64 idle clients take every connection: the operator still gets in.
    idle = []
    for i in range(64):
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        idle.append(c)
    time.sleep(1.5)
    t0 = time.time()
    ok = rpc_ok(sock, "log_get_level")
    check(ok and time.time() - t0 < 5, "rpc.py gets in past 64 idle clients")
    for c in idle:
        c.close()
    batch = json.dumps([{"jsonrpc": "2.0", "method": "bdev_malloc_delete", "id": i,
                         "params": {"name": "Lim%d" % i}} for i in range(nb)]).encode()
    out, _ = raw(sock, batch, timeout=20)
    check(out and isinstance(out[0], list) and all("result" in r for r in out[0]),
          "malloc bdevs deleted")


def test_save_restart(sock):
    print("save_config, restart with --json, same config")
    rpc(sock, "log_set_flag", "app")
    rpc(sock, "log_set_level", "INFO")
    cfg1 = rpc_json(sock, "save_config")
    path = os.path.join(TMP, "saved.json")
    with open(path, "w") as f:
        json.dump(cfg1, f, indent=2)
    check(any(s["subsystem"] == "log" for s in cfg1["subsystems"]), "save_config has the log subsystem")
    return path, cfg1


def main():
    if not os.path.exists(TGT):
        print("build/bin/osprey_tgt missing: run make")
        return 1
    sock = os.path.join(TMP, "osp.sock")
    try:
        p = start_tgt(sock, "-m", "0x3")
        test_basic(sock)
        test_errors(sock)
        test_bad_input(sock)
        test_rpc_limits(sock, p)
        path, cfg1 = test_save_restart(sock)
        check(p.poll() is None, "daemon alive after everything")
        rc, dt = stop_tgt(p)
        check(rc == 0 and dt is not None and dt < 1.0,
              "SIGTERM: exit 0 within a second (rc=%s, %.3fs)" % (rc, dt or -1))
        check(not os.path.exists(sock), "socket file removed on exit")

        p = start_tgt(sock, "-m", "0x3", "--json", path)
        cfg2 = rpc_json(sock, "save_config")
        check(cfg1 == cfg2, "restart with --json gives the same config")
        check(rpc_json(sock, "log_get_flags").get("app") is True, "flag restored")
        # A second daemon on the same socket must refuse to start.
        p2 = start_tgt(sock, "-m", "0x1", wait=False)
        try:
            rc2 = p2.wait(20)
        except subprocess.TimeoutExpired:
            p2.kill()
            rc2 = None
        check(rc2 not in (0, None), "second instance on a live socket fails (rc=%s)" % rc2)
        check(rpc_json(sock, "log_get_level") == "INFO", "first instance unaffected")
        r = rpc(sock, "spdk_kill_instance", "SIGTERM", check_rc=False)
        try:
            rc = p.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "spdk_kill_instance SIGTERM ends the daemon with 0 (rc=%s)" % rc)

        print("--wait-for-rpc")
        p = start_tgt(sock, "--wait-for-rpc")
        cur = rpc_json(sock, "rpc_get_methods", "--current")
        check("framework_start_init" in cur and "save_config" not in cur,
              "only startup methods before init")
        check(rpc_ok(sock, "log_set_print_level", "NOTICE"), "startup method runs")
        check(rpc_ok(sock, "framework_start_init"), "framework_start_init")
        check(rpc_ok(sock, "framework_wait_init"), "framework_wait_init")
        check("save_config" in rpc_json(sock, "rpc_get_methods", "--current"), "runtime methods now")
        rc, dt = stop_tgt(p, signal.SIGINT)
        check(rc == 0, "SIGINT: exit 0 (rc=%s)" % rc)

        print("bad configuration files")
        for name, text in [("notjson", "{nope"), ("shape", '{"subsystems": 5}'),
                           ("method", '{"subsystems":[{"subsystem":"log","config":'
                                      '[{"method":"no_such_method"}]}]}'),
                           ("params", '{"subsystems":[{"subsystem":"log","config":'
                                      '[{"method":"log_set_level","params":{"level":7}}]}]}')]:
            bad = os.path.join(TMP, name + ".json")
            with open(bad, "w") as f:
                f.write(text)
            p = start_tgt(sock, "--json", bad, wait=False)
            try:
                rc = p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = None
            log = tgt_log(p)
            check(rc not in (0, None) and "ERROR" in log, "bad config '%s' refused with an error" % name)
        p = start_tgt(sock, "--json", os.path.join(TMP, "missing.json"), wait=False)
        rc = p.wait(20)
        check(rc != 0 and "missing.json" in tgt_log(p), "missing config file named in the error")
        p = start_tgt(sock, "-m", "0x10000", wait=False)
        rc = p.wait(20)
        check(rc != 0, "core mask with absent cores refused")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
                print("  (killed a daemon that was still running)")
        sanitizer_reports = [i for i, p in enumerate(procs)
                             if any(k in tgt_log(p) for k in ("ERROR: AddressSanitizer",
                                                              "ERROR: LeakSanitizer",
                                                              "runtime error:"))]
        check(not sanitizer_reports, "no sanitizer reports in daemon logs %s" % sanitizer_reports)
        for i in sanitizer_reports:
            print(tgt_log(procs[i])[-3000:])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

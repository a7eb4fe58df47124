#!/usr/bin/env python3
"""End-to-end tests of bdev_virtio: Osprey as a vhost-user front end in front
of qemu-storage-daemon's vhost-user-blk export (a temp image file).

- bad bdev_virtio_attach_controller parameters get clear JSON-RPC errors and
  the daemon goes on serving;
- attach / bdev_get_bdevs / save_config / detach / attach again on osprey_tgt;
- bdevperf verify through the bdev (2 cores, 2 queues), then the image file is
  read on the host: every 512-byte block carries the pattern bdevperf wrote
  (word 0 = its LBA, word 1 = the run's seed);
- write_zeroes (larger than the device's per-request limit, so split) reads
  back as zeroes in the image; unmap and flush run without failures;
- qemu-storage-daemon killed with SIGKILL during a bdevperf run: the I/O
  fails, bdevperf reports failures and exits, it does not crash or hang; on
  osprey_tgt the bdev goes away and the daemon keeps serving.
qemu-storage-daemon is killed by PID at the end. Prints "N passed, N failed".
"""

import json
import mmap
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vhost"))
from vhost_user_client import recv_message  # noqa: E402
from osp_e2e import (BIN_DIR, ROOT, SOCK, TMP, alive, check, check_error,  # noqa: E402
                     rpc, rpc_json, rpc_out, run, start_tgt, stop_tgt, wait_for)

QSD = shutil.which("qemu-storage-daemon")
BDEVPERF = os.path.join(BIN_DIR, "bdevperf")
BDEVPERF_PY = os.path.join(ROOT, "scripts", "bdevperf.py")
IMG_MB = 32
qsds = []


def start_qsd(img, sock, null=False, queues=2, extra=""):
    if os.path.exists(sock):
        os.unlink(sock)
    if null:
        blockdev = "driver=null-co,node-name=f,size=%d" % (IMG_MB << 20)
    else:
        blockdev = "driver=file,node-name=f,filename=%s" % img
    log = open(sock + ".log", "w")
    p = subprocess.Popen([QSD, "--blockdev", blockdev, "--export",
                          "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,"
                          "writable=on,num-queues=%d%s" % (sock, queues, extra)],
                         stdout=log, stderr=subprocess.STDOUT)
    qsds.append(p)
    if not wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 10):
        raise RuntimeError("qemu-storage-daemon did not create %s" % sock)
    return p


def kill_qsd(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()


def attach_params(name, sock, vq_count=2):
    return {"name": name, "trtype": "user", "traddr": sock, "dev_type": "blk",
            "vq_count": vq_count}


def write_config(name, calls):
    path = os.path.join(TMP, name + ".json")
    with open(path, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [
            {"method": m, "params": p} for m, p in calls]}]}, f)
    return path


def bdevperf(*args, timeout=60):
    try:
        r = subprocess.run([BDEVPERF, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return -999, str(e.stdout or "") + "\n[timed out]"
    no_sanitizer_report(r.stdout + r.stderr, "bdevperf " + " ".join(args[-6:]))
    return r.returncode, r.stdout + r.stderr


def no_sanitizer_report(out, what):
    bad = [k for k in ("AddressSanitizer", "LeakSanitizer", "runtime error:") if k in out]
    if not check(not bad, "no sanitizer report from %s" % what):
        show(out)


def total_line(out):
    for line in out.splitlines():
        if line.startswith(" Total"):
            f = line.split(":")[1].split()
            return {"iops": float(f[0]), "fail_s": float(f[2])}
    return None


def show(out):
    print("    | " + "\n    | ".join(out.strip().splitlines()[-25:]))


def image_pattern(img):
    """(blocks whose word 0 is their LBA, number of blocks, distinct seeds seen)."""
    good, seeds = 0, set()
    with open(img, "rb") as f:
        data = f.read()
    n = len(data) // 512
    for b in range(n):
        w0, w1 = struct.unpack_from("<QQ", data, b * 512)
        if w0 == b:
            good += 1
            seeds.add(w1)
    return good, n, seeds


def test_rpc_errors(tgt, vsock):
    print("-- bad parameters")
    base = attach_params("V0", vsock)
    for what, override, needles in [
        ("trtype pci", {"trtype": "pci"}, ["trtype", "user"]),
        ("trtype bogus", {"trtype": "tcp"}, ["trtype"]),
        ("dev_type bogus", {"dev_type": "nvme"}, ["dev_type", "scsi"]),
        # A virtio-blk back end's config read as virtio-scsi's: refused, not scanned.
        ("dev_type scsi on a blk back end", {"dev_type": "scsi"}, ["virtio-scsi", "the device"]),
        ("vq_size 100", {"vq_size": 100}, ["vq_size", "power of two"]),
        ("vq_count 0", {"vq_count": 0}, ["vq_count"]),
        ("vq_count 1000", {"vq_count": 1000}, ["vq_count"]),
        ("missing socket", {"traddr": os.path.join(TMP, "nope.sock")}, ["cannot connect"]),
        ("not a vhost-user socket", {"traddr": SOCK}, ["V0"]),
        ("bad name", {"name": ""}, ["name"]),
    ]:
        params = dict(base)
        params.update(override)
        check_error(tgt, what, None, *needles, raw=("bdev_virtio_attach_controller", params))
    check_error(tgt, "missing traddr", None, "traddr",
                raw=("bdev_virtio_attach_controller", {"name": "V0", "trtype": "user",
                                                       "dev_type": "blk"}))
    check_error(tgt, "detach unknown", ["bdev_virtio_detach_controller", "nosuch"], "nosuch")


def test_attach_detach(tgt, vsock):
    print("-- attach / detach on osprey_tgt")
    out = rpc_out("bdev_virtio_attach_controller", "-t", "user", "-a", vsock, "-d", "blk",
                  "--vq-count", "2", "VirtioBlk0")
    names = json.loads(out) if out else None
    check(names == ["VirtioBlk0"], "attach answers the bdev name list: %s" % json.dumps(names))
    b = rpc_json("bdev_get_bdevs", "-b", "VirtioBlk0")
    ok = b is not None and b[0]["num_blocks"] == (IMG_MB << 20) // 512 and b[0]["block_size"] == 512
    check(ok, "bdev has the image's geometry (%d blocks of 512)" % ((IMG_MB << 20) // 512))
    if b:
        v = b[0].get("driver_specific", {}).get("virtio", {})
        check(v.get("vq_count") == 2 and v.get("socket") == vsock,
              "driver_specific shows 2 queues and the socket: %s" % v)
        check(b[0]["supported_io_types"].get("flush") and b[0]["supported_io_types"].get("unmap")
              and b[0]["supported_io_types"].get("write_zeroes"),
              "flush, unmap and write_zeroes offered by qemu-storage-daemon are supported")
    cfg = rpc_json("save_config")
    calls = [c for s in (cfg or {}).get("subsystems", []) if s["subsystem"] == "bdev"
             for c in (s.get("config") or []) if c["method"] == "bdev_virtio_attach_controller"]
    check(len(calls) == 1 and calls[0]["params"]["traddr"] == vsock and
          calls[0]["params"]["dev_type"] == "blk", "save_config holds the attach call")
    check_error(tgt, "attach the same name twice", ["bdev_virtio_attach_controller", "-t", "user",
                "-a", vsock, "-d", "blk", "VirtioBlk0"], "already exists")
    check(rpc(*["bdev_virtio_detach_controller", "VirtioBlk0"]).returncode == 0, "detach")
    check(rpc("bdev_get_bdevs", "-b", "VirtioBlk0").returncode != 0, "bdev gone after detach")
    out = rpc_out("bdev_virtio_attach_controller", "-t", "user", "-a", vsock, "-d", "blk",
                  "VirtioBlk1")
    check(out is not None, "attach again after detach (the back end takes a new front end)")
    check(rpc(*["bdev_virtio_detach_controller", "VirtioBlk1"]).returncode == 0, "detach again")


def test_verify_and_image(img, vsock):
    print("-- bdevperf verify through virtio-blk, then the image file")
    cfg = write_config("verify", [("bdev_virtio_attach_controller", attach_params("VirtioBlk0", vsock))])
    rc, out = bdevperf("--json", cfg, "-m", "0x3", "-C", "-q", "32", "-o", "4096", "-w", "verify",
                       "-t", "3")
    t = total_line(out)
    if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
                 "verify on 2 cores / 2 queues: %s IOPS, no failures" % (t and t["iops"])):
        show(out)
    good, n, seeds = image_pattern(img)
    check(good == n and len(seeds) == 1,
          "image file: %d of %d blocks carry their LBA, %d seed(s)" % (good, n, len(seeds)))

    rc, out = bdevperf("--json", cfg, "-q", "2", "-o", "%dM" % IMG_MB, "-w", "write_zeroes", "-t", "1")
    t = total_line(out)
    if not check(rc == 0 and t is not None and t["fail_s"] == 0,
                 "write_zeroes of the whole device per I/O (2 requests each: the device takes 16 MiB): no failures"):
        show(out)
    with open(img, "rb") as f:
        data = f.read()
    check(data.count(0) == len(data), "image file all zeroes after write_zeroes")
    for wl in ("unmap", "flush"):
        rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "1M", "-w", wl, "-t", "1")
        t = total_line(out)
        if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0,
                     "%s: %s IOPS, no failures" % (wl, t and t["iops"])):
            show(out)


def test_4k_blocks():
    print("-- 4096-byte logical blocks, I/O larger than a request (split by the bdev layer)")
    img = os.path.join(TMP, "disk4k.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    vsock = os.path.join(TMP, "v4k.sock")
    qsd = start_qsd(img, vsock, queues=1, extra=",logical-block-size=4096")
    try:
        cfg = write_config("v4k", [("bdev_virtio_attach_controller",
                                    attach_params("V4k", vsock, vq_count=1))])
        rc, out = bdevperf("--json", cfg, "-q", "8", "-o", "256k", "-w", "verify", "-t", "2")
        t = total_line(out)
        if not check(rc == 0 and t is not None and t["iops"] > 0 and t["fail_s"] == 0
                     and "2048 blocks of 4096 bytes" in out,
                     "verify with 256 KiB I/O on 4 KiB blocks: %s IOPS" % (t and t["iops"])):
            show(out)
        with open(img, "rb") as f:
            data = f.read()
        n = len(data) // 4096
        good = sum(1 for b in range(n) if struct.unpack_from("<Q", data, b * 4096)[0] == b)
        check(good == n, "image file: %d of %d 4 KiB blocks carry their LBA" % (good, n))
    finally:
        kill_qsd(qsd)


def test_backend_dies_bdevperf(img, vsock, qsd):
    print("-- qemu-storage-daemon killed under a bdevperf run")
    cfg = write_config("die", [("bdev_virtio_attach_controller", attach_params("VirtioBlk0", vsock))])
    sock = os.path.join(TMP, "bdevperf.sock")
    log = open(os.path.join(TMP, "bdevperf_die.log"), "w+")
    p = subprocess.Popen([BDEVPERF, "-z", "-r", sock, "--json", cfg, "-q", "32", "-o", "4096",
                          "-w", "verify", "-t", "20"], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not check(wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 20)
                     and p.poll() is None, "bdevperf -z up with the virtio bdev"):
            return
        pt = subprocess.Popen([sys.executable, BDEVPERF_PY, "-s", sock, "perform_tests"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        kill_qsd(qsd)
        try:
            out, _ = pt.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pt.kill()
            out, _ = pt.communicate()
            out += "\n[perform_tests hung]"
        check("hung" not in out and pt.returncode != 0,
              "perform_tests ends with an error after the back end died (rc %s)" % pt.returncode)
        try:
            prc = p.wait(30)
        except subprocess.TimeoutExpired:
            prc = None
        log.seek(0)
        text = log.read()
        crashed = prc is not None and prc < 0
        if not check(prc is not None and not crashed,
                     "bdevperf exits by itself, no crash (rc %s)" % prc):
            show(text)
        check("is gone" in text, "bdevperf's log says the back end is gone")
        no_sanitizer_report(text, "bdevperf (back end killed)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


class FakeBackend:
    """A hostile vhost-user-blk back end (one connection): answers the set-up
    dialogue, maps the front end's memfd, then misbehaves as mode says.
    bad_used: completes the first request with a used entry naming a
    descriptor that is no chain head; bad_config: GET_CONFIG reply whose size
    does not match the request; huge_size: a reply header claiming 4 GiB."""

    def __init__(self, path, mode):
        import threading
        self.path, self.mode = path, mode
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        self.lsock.listen(1)
        self.lsock.settimeout(20)
        self.kicked = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def reply(self, c, req, payload):
        c.sendall(struct.pack("<III", req, 0x5, len(payload)) + payload)

    def serve(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        c.settimeout(20)
        if self.mode == "silent":
            try:
                while c.recv(4096):
                    pass
            except OSError:
                pass
            c.close()
            return
        mem, region, vq, kick = None, None, {}, None
        try:
            while True:
                msg = recv_message(c)
                if msg is None:
                    break
                req, flags, body, fds = msg
                if req == 1:  # GET_FEATURES
                    if self.mode == "huge_size":
                        c.sendall(struct.pack("<III", 1, 0x5, 0xffffffff))
                        continue
                    self.reply(c, req, struct.pack("<Q", (1 << 30) | (1 << 32) | (1 << 9)))
                elif req == 15:  # GET_PROTOCOL_FEATURES: CONFIG only
                    self.reply(c, req, struct.pack("<Q", 1 << 9))
                elif req == 24:  # GET_CONFIG
                    off, sz, fl = struct.unpack_from("<III", body)
                    cfg = struct.pack("<QII", 2048, 0, 0).ljust(sz, b"\0")
                    if self.mode == "bad_config":
                        sz -= 4
                    self.reply(c, req, struct.pack("<III", off, sz, fl) + cfg)
                elif req == 5:  # SET_MEM_TABLE
                    gpa, msize, uaddr, moff = struct.unpack_from("<QQQQ", body, 8)
                    mem = mmap.mmap(fds[0], msize + moff)
                    region = (gpa, msize, uaddr)
                elif req == 9:  # SET_VRING_ADDR (user addresses)
                    idx, fl, desc, used, avail, log = struct.unpack("<IIQQQQ", body)
                    vq = {"desc": desc - region[2], "used": used - region[2],
                          "avail": avail - region[2]}
                elif req == 12:  # SET_VRING_KICK
                    kick = fds[0] if fds else None
                for fd in fds:
                    if fd != kick and (mem is None or fd != fds[0] or req != 5):
                        os.close(fd)
                if kick is not None and req == 18:  # enabled: wait for a request
                    break
            if self.mode != "bad_used" or kick is None:
                return
            r, _, _ = select.select([kick], [], [], 20)
            if r:
                self.kicked = True
                # used ring: flags, idx, ring[0] = {id, len}
                struct.pack_into("<II", mem, vq["used"] + 4, 7777, 0)
                struct.pack_into("<H", mem, vq["used"] + 2, 1)
            c.recv(1)  # until the front end hangs up
        except (OSError, struct.error, IndexError, ValueError):
            pass
        finally:
            c.close()

    def close(self):
        self.lsock.close()
        self.t.join(5)
        if os.path.exists(self.path):
            os.unlink(self.path)


def test_hostile_backend(tgt):
    print("-- hostile vhost-user back ends (a test program speaking the protocol)")
    for mode, needles in [("bad_config", ["GET_CONFIG", "does not match"]),
                          ("huge_size", ["GET_FEATURES", "malformed"])]:
        path = os.path.join(TMP, "fake_%s.sock" % mode)
        fb = FakeBackend(path, mode)
        check_error(tgt, "back end %s" % mode, None, *needles,
                    raw=("bdev_virtio_attach_controller", attach_params("F0", path, 1)))
        fb.close()
    # A back end that never answers: the attach waits on a pthread of its own,
    # the daemon answers other requests meanwhile, the attach fails after the timeout.
    path = os.path.join(TMP, "fake_silent.sock")
    fb = FakeBackend(path, "silent")
    pending = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "rpc.py"), "-s", SOCK,
                                "-t", "30", "bdev_virtio_attach_controller", "-t", "user", "-a", path,
                                "-d", "blk", "Silent0"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    t0 = time.time()
    ok = alive(tgt)
    check(ok and time.time() - t0 < 2.0 and pending.poll() is None,
          "the daemon answers other RPCs while an attach waits on a silent back end")
    out, _ = pending.communicate(timeout=30)
    check(pending.returncode != 0 and "timed out" in out,
          "the attach to the silent back end fails: timed out")
    fb.close()
    path = os.path.join(TMP, "fake_used.sock")
    fb = FakeBackend(path, "bad_used")
    cfg = write_config("fake", [("bdev_virtio_attach_controller", attach_params("F1", path, 1))])
    rc, out = bdevperf("--json", cfg, "-q", "4", "-o", "4096", "-w", "randread", "-t", "2",
                       timeout=60)
    check(fb.kicked, "the fake back end was kicked")
    if not check(rc not in (0, -999) and rc > 0 and "broke the used ring" in out,
                 "a used entry naming no chain head fails the I/O and the device; bdevperf "
                 "exits with an error, no crash or hang (rc %s)" % rc):
        show(out)
    fb.close()


def test_backend_dies_tgt(tgt, img, vsock):
    print("-- qemu-storage-daemon killed while osprey_tgt is attached")
    qsd = start_qsd(img, vsock)
    out = rpc_out("bdev_virtio_attach_controller", "-t", "user", "-a", vsock, "-d", "blk", "VirtioBlk2")
    check(out is not None, "attach VirtioBlk2")
    kill_qsd(qsd)
    check(wait_for(lambda: rpc("bdev_get_bdevs", "-b", "VirtioBlk2").returncode != 0, 5),
          "the bdev is removed once the back end is gone")
    check(alive(tgt), "osprey_tgt still serving")
    check_error(tgt, "detach after the bdev went away", ["bdev_virtio_detach_controller",
                "VirtioBlk2"], "VirtioBlk2")


def body():
    if QSD is None:
        print("  SKIP: qemu-storage-daemon not installed (apt-get install qemu-system-common)")
        return
    img = os.path.join(TMP, "disk.img")
    with open(img, "wb") as f:
        f.truncate(IMG_MB << 20)
    vsock = os.path.join(TMP, "vblk.sock")
    qsd = start_qsd(img, vsock)
    tgt = start_tgt()
    pending = silent = None
    try:
        test_rpc_errors(tgt, vsock)
        test_attach_detach(tgt, vsock)
        test_verify_and_image(img, vsock)
        test_4k_blocks()
        test_backend_dies_bdevperf(img, vsock, qsd)
        test_backend_dies_tgt(tgt, img, vsock)
        test_hostile_backend(tgt)
        print("-- osprey_tgt stops with a controller still attached")
        start_qsd(img, vsock)
        check(rpc_out("bdev_virtio_attach_controller", "-t", "user", "-a", vsock, "-d", "blk",
                      "VirtioBlk3") is not None, "attach VirtioBlk3 and leave it attached")
        print("-- ... and an attach to a silent back end still pending")
        spath = os.path.join(TMP, "fake_silent2.sock")
        silent = FakeBackend(spath, "silent")
        pending = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "rpc.py"), "-s",
                                    SOCK, "-t", "30", "bdev_virtio_attach_controller", "-t", "user",
                                    "-a", spath, "-d", "blk", "Silent1"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
    finally:
        for q in qsds:
            kill_qsd(q)
        check(stop_tgt(tgt) == 0, "osprey_tgt exits cleanly")
        if pending is not None:
            out, _ = pending.communicate(timeout=30)
            check(pending.returncode != 0 and "shutting down" in out,
                  "the pending attach is answered: the application is shutting down")
        if silent is not None:
            silent.close()


if __name__ == "__main__":
    sys.exit(run(body))

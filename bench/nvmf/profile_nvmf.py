#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Instructions per I/O of the NVMe/TCP target and initiator, by function group.

    bench/nvmf/profile_nvmf.py [-t SECONDS] [--only SUBSTRING] [--side tgt|init|both]
                               [--out DIR] [--top N] [-j FILE] [-r ROUNDS]
                               [--compare OTHER_BIN_DIR]   (with --side tgt)
                               [--perf-args="NVME_PERF_OPTIONS"]

Target side: the decision figure is the "I/O path" (PDU parse, socket recv,
capsule handling, C2H/resp build, socket send, bdev submit/complete: groups
no empty poll runs, without the malloc bdev's copy), repeatable to <1 % at
4 KiB under any load. -r repeats the rounds (median and range); --compare
profiles OTHER_BIN_DIR/nvmf_tgt too (e.g. main's build), alternating, with
this build's nvme_perf driving both. doc/nvmf_tcp_profile.md has the method.

For each workload (4 KiB randread qd32, randwrite qd32, randread qd128, 128 KiB
sequential read qd16), one side runs under valgrind's callgrind while the other
runs natively: nvmf_tgt --polling -m 0x1 (malloc namespace, 4 KiB blocks) and
nvme_perf -c 0x2 over 127.0.0.1, as bench/nvmf/run_nvmf.sh runs them.

- Target: callgrind starts with instrumentation off. nvme_perf runs natively
  for SECONDS + 4 s; 2 s after its start instrumentation is switched on
  (callgrind_control -i on) for SECONDS, then off, and the profile dumped.
  The I/Os of that window are the commands the target completed in it,
  counted by callgrind (calls of nvmf_tcp_req_complete), so connection
  set-up and shutdown are not in the figures, and no RPC runs in the window.
  The target polls (--polling): under valgrind the reactor's epoll_pwait2
  sleep is not available (valgrind 3.19 lacks the syscall); under load it
  never sleeps anyway.
- Initiator: nvme_perf runs under callgrind with --toggle-collect on
  worker_poll_once: only the worker's I/O loop is counted (submits happen in
  completion callbacks inside it), not start-up, connect or the admin thread.
- Empty polls: both sides poll, and whenever the side that is not under
  callgrind is slow (other processes on its core) the measured side spins
  through empty loop iterations, which would make the figures depend on the
  machine's load. So each side is first calibrated: with one connection
  established and the peer stopped (SIGSTOP), the cost of one empty loop
  iteration (reactor_run_once on the target, worker_poll_once in nvme_perf)
  is measured function by function; the runs then subtract that cost times
  their number of loop iterations (callgrind's call counts). What remains is
  the work of the I/Os themselves plus whatever a busy iteration costs beyond
  an empty one, and no longer depends on the load. Both figures are printed
  ("all" and "work").

callgrind counts user-space instructions only: the kernel's share (socket
calls, epoll) is not in these figures; bench/nvmf/run_nvmf.sh --perf-stat
counts system calls and CPU time per I/O of both sides running natively.

Prints, per workload and side, instructions per I/O in all, then per group
(submit, PDU build, socket write, receive/parse, completion, NVMe-oF core and
bdev, memcpy, reactor and pollers, epoll and socket group, clock reads, other)
and the top functions by self cost. Needs valgrind (callgrind_control,
callgrind_annotate) and perf.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("OSPREY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
RPC = os.path.join(ROOT, "scripts", "rpc.py")
NQN = "nqn.2016-06.io.spdk:prof1"

CASES = [
    ("4k randread qd32", "randread", 4096, 32),
    ("4k randwrite qd32", "randwrite", 4096, 32),
    ("4k randread qd128", "randread", 4096, 128),
    ("128k read qd16", "read", 131072, 16),
]

# Function groups by self cost; the first matching pattern wins.
GROUPS = [
    ("memcpy", r"^(__)?mem(cpy|move|set)|^__memmove|^__memcpy|^__memset"),
    ("clock", r"clock_gettime|^now_ns$|osp_get_ticks|rdtsc"),
    ("epoll/sock group", r"epoll|posix_group_poll|osp_sock_group_poll|sock_group_flush|"
     r"osp_sock_request_flush"),
    ("PDU build", r"osp_nvme_tcp_build|pdu_finish|pdu_hdr|crc32c"),
    ("socket write", r"osp_sock_writev_async|posix_flush|sock_flush_internal|osp_sock_flush|"
     r"osp_sock_request_sent|sock_complete_list|sock_detach|^sendmsg$|__libc_sendmsg|"
     r"osp_iov_slice|posix_set_epollout|posix_req_left|wr_queue|wr_done|cmd_sent_cb|"
     r"h2c_sent_cb|osp_iov_len"),
    ("receive/parse", r"osp_nvme_tcp_recv|posix_readv|posix_recv|osp_sock_readv|osp_sock_recv|"
     r"posix_pipe|osp_iov_copy|^recv$|__libc_recv|^readv$|rx_hdr|rx_done|qpair_rx|"
     r"tcp_hdr_fn|tcp_done_fn|tcp_poll|qpair_sock_cb|capsule_start|recv_|get_le|put_le"),
    ("completion", r"tcp_req_try_complete|nvme_request_complete|io_complete|"
     r"nvmf_tcp_req_complete|send_resp|c2h_continue|req_try_release|req_put_bufs|"
     r"nvme_qpair_complete|osp_tool_hist|nvme_cpl|osp_nvme_cpl|h2c_data_done|send_r2t"),
    ("submit", r"osp_nvme_ns_cmd|nvme_qpair_submit|tcp_qpair_submit|nvme_request|"
     r"task_submit|task_start_new|osp_tool_rng|nvme_ns_cmd|choose_read|pattern_is_random|"
     r"req_get|buffers_ready|req_bufs_iov|req_exec|osp_iobuf"),
    ("nvmf core + bdev", r"nvmf|bdev|malloc_|osp_nvme_opc|ctrlr_|subsystem"),
    ("reactor/pollers", r"reactor|osp_thread|thread_|poller|msg_|osp_ring|_poll$|worker_poll|"
     r"process_completions|iobuf_channel"),
]


# The target's function areas (--side tgt), self cost, first match wins. The
# malloc bdev's data copy is "memcpy" (the device's work, not the transport's).
TGT_GROUPS = [
    ("memcpy (bdev data)", r"^(__)?mem(cpy|move|set)|^__memmove|^__memcpy|^__memset"),
    ("clock reads", r"clock_gettime|^now_ns$|osp_get_ticks|rdtsc"),
    ("PDU parse", r"^recv_|osp_nvme_tcp_recv_|^rx_hdr$|^rx_done$|^rx_error$|osp_iov_copy|"
     r"pdu_type_|get_le|put_le|crc32c"),
    ("socket recv", r"^qpair_rx|qpair_sock_cb|posix_readv|posix_recv|osp_sock_readv|"
     r"osp_sock_recv|posix_pipe|^recv$|__libc_recv|^readv$|posix_mark_hot"),
    ("capsule handling", r"capsule_start|^req_get|req_bufs_iov|buffers_ready|req_exec|cmd_dir|"
     r"osp_iobuf|iobuf_|h2c_data_done|send_r2t|qpair_rx_pause|qpair_attn"),
    ("C2H/resp build", r"nvmf_tcp_req_complete|c2h_continue|send_resp|osp_nvme_tcp_build|"
     r"pdu_start|pdu_finish|pdu_fixed|data_len_of|osp_iov_slice|osp_iov_len|"
     r"osp_nvme_cpl|nvmf_tcp_req_free"),
    ("socket send", r"osp_sock_writev_async|posix_flush|sock_flush|osp_sock_flush|"
     r"osp_sock_request|sock_complete_list|^sendmsg$|__libc_sendmsg|posix_set_epollout|"
     r"posix_req_left|^wr_queue$|^wr_done$|req_try_release|req_put_bufs|buf_put|tq_(un)?hold|"
     r"posix_zcopy"),
    # Before the bdev/NVMe-oF group: the pollers an empty iteration runs
    # (nvmf_tcp_poll_group_poll, bdev_cpl_list_poll, ...) are loop overhead.
    ("poller/reactor", r"reactor|osp_thread|thread_|poller|msg_|osp_ring|_poll$|"
     r"epoll|posix_group_poll|osp_sock_group|sock_group|process_completions"),
    ("bdev submit/complete", r"nvmf|bdev|malloc_|osp_nvme_opc|ctrlr_|subsystem|ns_"),
]

# The target's decision figure: the groups no empty loop iteration runs, so
# that neither the machine's load (the number of empty polls subtracted)
# nor the malloc bdev's copy (its cost follows the buffers' addresses: 410
# to 600 instructions for 4 KiB between runs of the same build) moves it.
MIN_IOS = 200

IO_PATH_GROUPS = ["PDU parse", "socket recv", "capsule handling", "C2H/resp build",
                  "socket send", "bdev submit/complete"]

# Functions whose calls are counted per I/O (callgrind's call counts): the
# system calls of the I/O path and the PDUs built.
CALL_COUNTS = [
    ("recv", r"^(__libc_)?recv$"),
    ("readv", r"^(__libc_)?readv$"),
    ("sendmsg", r"^(__libc_)?sendmsg$"),
    ("epoll_wait", r"^(__)?epoll_(p)?wait2?$"),
    ("socket write requests", r"^osp_sock_writev_async$"),
    ("C2HData PDUs", r"^c2h_continue$"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(sock, *args):
    r = subprocess.run([sys.executable, RPC, "-s", sock, *args], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("rpc.py %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def start_target(tmp, port, under_cg, tgt_bin=None):
    sock = os.path.join(tmp, "tgt.sock")
    log = open(os.path.join(tmp, "tgt.log"), "w+")
    cmd = [os.path.join(tgt_bin or BIN, "nvmf_tgt"), "-m", "0x1", "-r", sock, "--polling"]
    if under_cg:
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=" + os.path.join(tmp, "cg.tgt.%p")] + cmd
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            rpc(sock, "framework_wait_init")
            break
        except (OSError, RuntimeError):
            time.sleep(0.2)
    if p.poll() is not None:
        log.seek(0)
        raise RuntimeError("nvmf_tgt did not start:\n" + log.read()[-2000:])
    rpc(sock, "nvmf_create_transport", "-t", "tcp")
    rpc(sock, "bdev_malloc_create", "-b", "Malloc0", "128", "4096")
    rpc(sock, "nvmf_create_subsystem", NQN, "-a", "-s", "OSPPROF1")
    rpc(sock, "nvmf_subsystem_add_ns", NQN, "Malloc0")
    rpc(sock, "nvmf_subsystem_add_listener", NQN, "-t", "tcp", "-a", "127.0.0.1", "-s", port)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


INIT_CG = ["valgrind", "--tool=callgrind", "--toggle-collect=worker_poll_once*"]


# --perf-args: more nvme_perf options for every run (e.g. "--disable-sq-fc -H").
PERF_EXTRA = []


def perf_cmd(case, port, secs):
    _, pattern, size, qd = case
    trid = "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%s subnqn:%s" % (port, NQN)
    return [os.path.join(BIN, "nvme_perf"), "-c", "0x2", "-q", str(qd), "-o", str(size),
            "-w", pattern, "-t", str(secs), "-r", trid, "--json"] + PERF_EXTRA


def total_ios(out):
    for l in out.splitlines():
        if l.startswith("{") and '"device":"Total"' in l:
            return json.loads(l)["ios"]
    raise RuntimeError("no Total line from nvme_perf:\n" + out[-1500:])


def count_calls(cg_file):
    """Calls per function name (the sum of callgrind's calls= lines over all callers)."""
    names, calls, cur = {}, {}, None
    with open(cg_file) as f:
        for l in f:
            if l.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?", l.rstrip("\n"))
                if m:
                    if m.group(2) is not None:
                        names[m.group(1)] = m.group(2)
                    cur = names.get(m.group(1))
                continue
            if l.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", l.rstrip("\n"))
                if m and m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                cur = None
                continue
            if l.startswith("calls=") and cur is not None:
                calls[cur] = calls.get(cur, 0) + int(l[6:].split()[0])
                cur = None
    return calls


def loop_calls(calls, side):
    return sum(n for fn, n in calls.items() if fn.startswith(LOOP_FN[side]))


LOOP_FN = {"tgt": "reactor_run_once", "init": "worker_poll_once"}


def annotate(cg_file):
    """Self instructions per function of a callgrind output file."""
    r = subprocess.run(["callgrind_annotate", "--threshold=100", cg_file], capture_output=True,
                       text=True, check=True)
    funcs = {}
    total = None
    for l in r.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", l)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?):(\S+?)(?:\s+\[.*\])?\s*$", l)
        if m:
            fn = m.group(3)
            funcs[fn] = funcs.get(fn, 0) + int(m.group(1).replace(",", ""))
    return total, funcs


def group_of(fn, groups=None):
    for name, pat in groups or GROUPS:
        if re.search(pat, fn):
            return name
    return "other"


def report(label, total, funcs, ios, top, iters, calib, groups_def=None, calls=None):
    all_total = total
    if calib is not None:
        e_total, e_funcs, _ = calib
        total = total - e_total * iters
        funcs = {fn: ir - e_funcs.get(fn, 0.0) * iters for fn, ir in funcs.items()}
    groups = {}
    for fn, ir in funcs.items():
        g = group_of(fn, groups_def)
        groups[g] = groups.get(g, 0) + ir
    print("  %s: %.0f instructions per I/O of work (%.0f in all, %.2f loop iterations per "
          "I/O, %d I/Os)" % (label, total / ios, all_total / ios, iters / ios, ios))
    path = None
    if groups_def is TGT_GROUPS:
        path = sum(ir for g, ir in groups.items() if g in IO_PATH_GROUPS)
        print("  I/O path (%s): %.0f per I/O" % (", ".join(IO_PATH_GROUPS), path / ios))
    for g, ir in sorted(groups.items(), key=lambda x: -x[1]):
        print("      %-22s %8.0f  %5.1f %%" % (g, ir / ios, 100.0 * ir / total))
    per_io = {}
    if calls is not None:
        for name, pat in CALL_COUNTS:
            per_io[name] = sum(n for fn, n in calls.items() if re.search(pat, fn)) / ios
        print("    calls per I/O: " + ", ".join("%s %.3f" % kv for kv in per_io.items()))
    print("    top functions (self):")
    for fn, ir in sorted(funcs.items(), key=lambda x: -x[1])[:top]:
        print("      %-40s %8.0f  [%s]" % (fn[:40], ir / ios, group_of(fn, groups_def)))
    return {"ir_per_io": round(total / ios, 1),
            "io_path_per_io": None if path is None else round(path / ios, 1), "ir_per_io_all": round(all_total / ios, 1),
            "loop_iters_per_io": round(iters / ios, 3),
            "calls_per_io": {k: round(v, 4) for k, v in per_io.items()},
            "groups": {g: round(ir / ios, 1) for g, ir in groups.items()}}


def calibrate(side, out_dir, tgt_bin=None):
    """Instructions of one empty loop iteration of side, per function (peer stopped)."""
    tmp = tempfile.mkdtemp(prefix="osp_cal_", dir=out_dir)
    port = str(free_port())
    tgt = start_target(tmp, port, side == "tgt", tgt_bin)
    init = None
    try:
        cmd = perf_cmd(("cal", "randread", 4096, 1), port, 60)
        if side == "init":
            cmd = INIT_CG + ["--instr-atstart=no",
                             "--callgrind-out-file=" + os.path.join(tmp, "cg.init.%p")] + cmd
        init = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4 if side == "tgt" else 10)
        if init.poll() is not None:
            raise RuntimeError("calibration: nvme_perf exited early")
        peer, me = (init, tgt) if side == "tgt" else (tgt, init)
        peer.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "-i", "on", str(me.pid)], check=True,
                       capture_output=True)
        time.sleep(3)
        subprocess.run(["callgrind_control", "-d", str(me.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(me.pid)], capture_output=True)
        peer.send_signal(signal.SIGCONT)
    finally:
        if init is not None and init.poll() is None:
            init.kill()
            init.wait()
        stop(tgt)
    cg = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("cg.")]
    cg.sort(key=os.path.getsize, reverse=True)
    total, funcs = annotate(cg[0])
    calls = count_calls(cg[0])
    iters = loop_calls(calls, side)
    if iters == 0:
        raise RuntimeError("calibration: no %s calls" % LOOP_FN[side])
    print("calibration, %s%s: %.0f instructions per empty loop iteration (%d iterations)" % (
        side, " (%s)" % tgt_bin if tgt_bin else "", total / iters, iters))
    return total / iters, {fn: ir / iters for fn, ir in funcs.items()}, None


def run_side(case, side, secs, out_dir, top, calib, tgt_bin=None):
    tmp = tempfile.mkdtemp(prefix="osp_prof_", dir=out_dir)
    port = str(free_port())
    tgt = start_target(tmp, port, side == "tgt", tgt_bin)
    try:
        if side == "tgt":
            p = subprocess.Popen(perf_cmd(case, port, secs + 4), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(2)
            subprocess.run(["callgrind_control", "-i", "on", str(tgt.pid)], check=True,
                           capture_output=True)
            time.sleep(secs)
            subprocess.run(["callgrind_control", "-i", "off", str(tgt.pid)], check=True,
                           capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(tgt.pid)], check=True,
                           capture_output=True)
            out, err = p.communicate(timeout=secs + 300)
            r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        else:
            cmd = INIT_CG + ["--callgrind-out-file=" + os.path.join(tmp, "cg.init.%p")] + \
                perf_cmd(case, port, secs)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=secs * 60 + 300)
        if r.returncode != 0:
            raise RuntimeError("nvme_perf failed: %s" % r.stderr[-1500:])
        ios = None if side == "tgt" else total_ios(r.stdout)
    finally:
        stop(tgt)
    cg = [f for f in os.listdir(tmp) if f.startswith("cg.")]
    # The dump of a running target is cg.tgt.PID.N; the final one (off) adds nothing.
    cg.sort(key=lambda f: os.path.getsize(os.path.join(tmp, f)), reverse=True)
    total, funcs = annotate(os.path.join(tmp, cg[0]))
    calls = count_calls(os.path.join(tmp, cg[0]))
    iters = loop_calls(calls, side)
    if side == "tgt":
        # The I/Os are the commands completed inside the instrumented window,
        # counted by callgrind itself (nvmf_tcp_req_complete is called through
        # the transport's ops, never inlined). Not the target's own capsule
        # count read over RPC around the window: callgrind_control takes
        # effect some time after it returns (the count overshot by 10-70 %),
        # and the RPC's own work would land in the window.
        ios = calls.get("nvmf_tcp_req_complete", 0)
        if ios < MIN_IOS:
            # The native initiator stalled (machine load): a few I/Os against
            # seconds of empty polls say nothing. Not in the summary.
            print("%s: only %d I/Os in the window (the initiator stalled): round ignored" %
                  (case[0], ios))
            return None
    label = ("target (nvmf_tgt)" if side == "tgt" else "initiator (nvme_perf)")
    print("%s, %s under callgrind%s" % (case[0], label, " (%s)" % tgt_bin if tgt_bin else ""))
    return report(label, total, funcs, ios, top, iters, calib,
                  TGT_GROUPS if side == "tgt" else None, calls)


def summary(results, builds):
    """Median and range over the rounds, per case, side and build."""
    print("\nsummary: instructions per I/O (target: of the I/O path groups; initiator: of work), "
          "median [min-max] over %d round(s)" % max(len(v) for v in results.values()))
    keys = []
    for (case, side, build) in results:
        if (case, side) not in keys:
            keys.append((case, side))
    for case, side in keys:
        base = None
        for build in builds:
            runs = results.get((case, side, build))
            if not runs:
                continue
            key = "io_path_per_io" if runs[0].get("io_path_per_io") is not None else "ir_per_io"
            irs = [r[key] for r in runs]
            med = statistics.median(irs)
            groups = {}
            for r in runs:
                for g in r["groups"]:
                    groups.setdefault(g, []).append(r["groups"][g])
            calls = {}
            for r in runs:
                for c, v in r["calls_per_io"].items():
                    calls.setdefault(c, []).append(v)
            change = ""
            if base is None:
                base = med
            else:
                change = "  (this build: %+.1f %%)" % (100.0 * (base - med) / med)
            print("  %-20s %-4s %-12s %7.0f [%.0f-%.0f]%s" % (
                case, side, build, med, min(irs), max(irs), change))
            print("      " + ", ".join("%s %.0f" % (g, statistics.median(v)) for g, v in
                                       sorted(groups.items(), key=lambda x: -statistics.median(x[1]))))
            print("      per I/O: " + ", ".join("%s %.3f" % (c, statistics.median(v))
                                                for c, v in calls.items()))


def main():
    ap = argparse.ArgumentParser(description="callgrind instructions per I/O, NVMe/TCP")
    ap.add_argument("-t", "--time", type=int, default=6, help="seconds per run")
    ap.add_argument("--only", help="only the cases whose name contains this")
    ap.add_argument("--side", choices=["tgt", "init", "both"], default="both")
    ap.add_argument("--out", help="keep the callgrind files under this directory")
    ap.add_argument("--top", type=int, default=12, help="functions listed per run")
    ap.add_argument("-j", "--json", help="append one JSON line per run to this file")
    ap.add_argument("--perf-args", default="",
                    help="more nvme_perf options for every run, given with =: "
                    "--perf-args=\"--disable-sq-fc\"")
    ap.add_argument("-r", "--repeat", type=int, default=1,
                    help="rounds (cases interleaved); a summary gives median and range")
    ap.add_argument("--compare", metavar="OTHER_BIN_DIR",
                    help="target side only: also profile OTHER_BIN_DIR/nvmf_tgt (e.g. a build "
                         "of main), in alternating order, driven by the same nvme_perf")
    args = ap.parse_args()
    PERF_EXTRA.extend(args.perf_args.split())
    out_dir = args.out or tempfile.mkdtemp(prefix="osp_prof_nvmf_")
    os.makedirs(out_dir, exist_ok=True)
    sides = ["tgt", "init"] if args.side == "both" else [args.side]
    builds = [None]
    if args.compare:
        if sides != ["tgt"]:
            ap.error("--compare needs --side tgt")
        builds = [None, os.path.abspath(args.compare)]
    calib = {(side, b): calibrate(side, out_dir, b) for side in sides for b in builds}
    results = {}
    for rnd in range(args.repeat):
        order = builds if rnd % 2 == 0 else builds[::-1]
        for case in CASES:
            if args.only and args.only not in case[0]:
                continue
            for side in sides:
                for b in order:
                    res = run_side(case, side, args.time, out_dir, args.top, calib[(side, b)], b)
                    if res is None:
                        continue
                    name = "this" if b is None else "compare"
                    res.update({"bench": "nvmf_tcp_callgrind", "case": case[0], "side": side,
                                "build": name, "round": rnd + 1,
                                "loadavg": os.getloadavg()[0]})
                    results.setdefault((case[0], side, name), []).append(res)
                    if args.json:
                        with open(args.json, "a") as f:
                            f.write(json.dumps(res) + "\n")
                    sys.stdout.flush()
    if args.repeat > 1 or args.compare:
        summary(results, ["this", "compare"] if args.compare else ["this"])
    if not args.out:
        subprocess.run(["rm", "-rf", out_dir])
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Benchmarks of the daemon's spine (reactors, threads, messages, pollers).
#
#   bench/run_spine.sh [-n RUNS] [-t SECONDS] [-i IDLE_SECONDS] [-j FILE] [--no-build]
#   (defaults: 5 runs, 1 s per measurement, 10 s idle; env THREAD_MSG and
#   OSPREY_TGT override the binaries)
#
# 1. build/bench/thread_msg, RUNS times in the default (sleep when idle)
#    mode and RUNS times with --polling, interleaved so that noise hits both
#    alike; prints the median of every metric side by side and the ratio
#    default/polling.
# 2. Idle cost: build/bin/osprey_tgt -m 0x3 with nothing configured, its own
#    RPC socket; once the socket accepts connections, CPU time (utime+stime
#    from /proc/PID/stat, and the per-thread schedstat run time, which is
#    exact to the ns) over IDLE_SECONDS, as % of one core; same with --polling.
#
# Needs 2 cores. Stops every process it started (by PID) and finishes on its
# own in under 3 minutes: each step gets what is left of a fixed time budget.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Overridable, e.g. to measure a build made elsewhere.
BENCH=${THREAD_MSG:-$ROOT/build/bench/thread_msg}
TGT=${OSPREY_TGT:-$ROOT/build/bin/osprey_tgt}
RUNS=5
DURATION=1
IDLE_S=10
JSON_OUT=
BUILD=1
BUDGET_S=170		# the whole script, build included

usage() {
	sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-t) DURATION=$2; shift 2 ;;
	-i) IDLE_S=$2; shift 2 ;;
	-j) JSON_OUT=$2; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "unknown option $1" >&2; usage >&2; exit 1 ;;
	esac
done

command -v python3 >/dev/null || { echo "run_spine: python3 is needed for the statistics" >&2; exit 1; }

START=$(date +%s)
WORK=$(mktemp -d /tmp/osprey_spine.XXXXXX)
STARTED_PIDS=()

cleanup() {
	local p
	for p in "${STARTED_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" = 1 ]; then
	echo "run_spine: building (make -j$(nproc))"
	if ! make -C "$ROOT" -j"$(nproc)" >"$WORK/build.log" 2>&1; then
		if [ -x "$BENCH" ] && [ -x "$TGT" ]; then
			echo "run_spine: WARNING: make failed (see below); using the binaries already built" >&2
			tail -5 "$WORK/build.log" >&2
		else
			cat "$WORK/build.log" >&2
			echo "run_spine: build failed" >&2
			exit 1
		fi
	fi
fi
for b in "$BENCH" "$TGT"; do
	[ -x "$b" ] || { echo "run_spine: $b missing (run make)" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
	echo "run_spine: needs 2 cores" >&2
	exit 1
fi

# Other load on the machine makes every figure worse: say how much there was.
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
left() {
	echo $((BUDGET_S - ($(date +%s) - START)))
}
IDLE_RESERVE=$((2 * (IDLE_S + 8)))

# ---- 1. thread_msg, default and --polling, interleaved ----

RESULTS=$WORK/thread_msg.json
: >"$RESULTS"
done_runs=0
for i in $(seq 1 "$RUNS"); do
	for mode in interrupt polling; do
		args=(-m 0x3 -t "$DURATION" -j "$RESULTS")
		if [ "$mode" = polling ]; then
			# The floor does not depend on the mode: measure it once per pair.
			args+=(--polling -T single,burst,rtt,poller,wake)
		fi
		budget=$(($(left) - IDLE_RESERVE))
		if [ "$budget" -lt 20 ]; then
			echo "run_spine: time budget reached after $done_runs run(s) per mode" >&2
			break 2
		fi
		tmo=$((budget < 45 ? budget : 45))
		echo "run_spine: thread_msg run $i/$RUNS ($mode)"
		if ! timeout -k 3 "$tmo" "$BENCH" "${args[@]}" >"$WORK/run_${i}_$mode.out" 2>&1; then
			echo "run_spine: WARNING: thread_msg run $i ($mode) failed or timed out:" >&2
			tail -5 "$WORK/run_${i}_$mode.out" >&2
		fi
	done
	done_runs=$i
done

# ---- 2. idle cost of osprey_tgt ----

# Prints "utime+stime_ticks schedstat_ns context_switches monotonic_s" for pid.
sample_cpu() {
	python3 - "$1" <<'EOF'
import glob, sys, time
pid = sys.argv[1]
with open(f"/proc/{pid}/stat") as f:
    # comm may contain spaces: fields after the closing parenthesis
    rest = f.read().rsplit(")", 1)[1].split()
ticks = int(rest[11]) + int(rest[12])
ns = 0
cs = 0
for t in glob.glob(f"/proc/{pid}/task/*"):
    try:
        with open(t + "/schedstat") as f:
            ns += int(f.read().split()[0])
        with open(t + "/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    cs += int(line.split()[1])
    except OSError:
        pass
print(ticks, ns, cs, time.monotonic())
EOF
}

# Waits until the Unix socket accepts a connection (or pid dies / 10 s pass).
wait_rpc() {
	python3 - "$1" "$2" <<'EOF'
import os, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.close()
        sys.exit(0)
    except OSError:
        s.close()
        time.sleep(0.05)
sys.exit(1)
EOF
}

IDLE_JSON=$WORK/idle.json
: >"$IDLE_JSON"
measure_idle() {
	local mode=$1 sock=$WORK/tgt_$1.sock pid a b t0 t1 stopped
	local -a extra=()
	[ "$mode" = polling ] && extra=(--polling)
	"$TGT" -m 0x3 -r "$sock" --silence-noticelog "${extra[@]}" >"$WORK/tgt_$mode.log" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	if ! wait_rpc "$sock" "$pid"; then
		echo "run_spine: osprey_tgt ($mode) did not come up:" >&2
		tail -5 "$WORK/tgt_$mode.log" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return
	fi
	sleep 0.5	# let the start-up and our probe connection settle
	a=$(sample_cpu "$pid")
	sleep "$IDLE_S"
	b=$(sample_cpu "$pid")
	t0=$(date +%s.%N)
	kill -TERM "$pid"
	stopped=0
	for _ in $(seq 1 50); do
		# An exited child stays a zombie (state Z) until we reap it.
		if ! kill -0 "$pid" 2>/dev/null ||
		   [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then
			stopped=1
			break
		fi
		sleep 0.1
	done
	if [ "$stopped" = 0 ]; then
		echo "run_spine: WARNING: osprey_tgt ($mode) still running 5 s after SIGTERM: killed" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	t1=$(date +%s.%N)
	python3 - "$mode" "$a" "$b" "$(getconf CLK_TCK)" "$stopped" "$t0" "$t1" >>"$IDLE_JSON" <<'EOF'
import json, sys
mode, a, b, hz, stopped, t0, t1 = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5] == "1", float(sys.argv[6]), float(sys.argv[7])
dt = float(b[3]) - float(a[3])
out = {
    "idle_cpu_pct_stat": (int(b[0]) - int(a[0])) / hz / dt * 100,
    "idle_cpu_pct_schedstat": (int(b[1]) - int(a[1])) / 1e9 / dt * 100,
    "idle_ctx_switches_per_s": (int(b[2]) - int(a[2])) / dt,
    "shutdown_s": (t1 - t0) if stopped else -1,
}
for k, v in out.items():
    print(json.dumps({"bench": "spine", "metric": k, "mode": mode, "value": round(v, 4),
                      "window_s": round(dt, 2)}))
EOF
}

for mode in interrupt polling; do
	if [ "$(left)" -lt $((IDLE_S + 8)) ]; then
		echo "run_spine: time budget reached: idle ($mode) skipped" >&2
		continue
	fi
	echo "run_spine: idle osprey_tgt -m 0x3 ($mode), ${IDLE_S} s"
	measure_idle "$mode"
done

# ---- report ----

LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$RESULTS" "$IDLE_JSON" "${JSON_OUT:-/dev/null}" "$done_runs" "$LOAD_START" "$LOAD_END" \
	"$(nproc)" <<'EOF'
import json, statistics, sys
res_path, idle_path, out_path, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
load_start, load_end, ncpu = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])

def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows

vals = {}
order = []
for r in load(res_path):
    key = r["metric"]
    if key not in order:
        order.append(key)
    vals.setdefault((key, r["mode"]), []).append(r["value"])
units = {r["metric"]: r["unit"] for r in load(res_path)}

def med(key, mode):
    v = vals.get((key, mode))
    return statistics.median(v) if v else None

def show(v, unit):
    if v is None:
        return "-"
    if unit == "msg/s":
        return f"{v / 1e6:.3f}"
    return f"{v:.3f}"

lines = []
print()
print(f"thread_msg medians over {runs} run(s) per mode (A core 0 -> B core 1)")
print(f"machine: {ncpu} cpus, 1-min load average {load_start:.2f} at start, {load_end:.2f} at end "
      f"(this script adds up to ~2; more means other work competed for the cores)")
print(f"{'metric':<26} {'default':>12} {'--polling':>12} {'default/polling':>16}  unit")
for key in order:
    unit = units[key]
    d, p = med(key, "interrupt"), med(key, "polling")
    ratio = d / p if d is not None and p else None
    shown_unit = "Mmsg/s" if unit == "msg/s" else unit
    print(f"{key:<26} {show(d, unit):>12} {show(p, unit):>12} "
          f"{(f'{ratio:.3f}' if ratio is not None else '-'):>16}  {shown_unit}")
    for mode, v in (("interrupt", d), ("polling", p)):
        if v is not None:
            vs = vals[(key, mode)]
            lines.append({"bench": "spine", "metric": key, "mode": mode, "value": round(v, 4),
                          "unit": unit, "stat": "median", "runs": len(vs),
                          "min": round(min(vs), 4), "max": round(max(vs), 4)})
    if ratio is not None and unit == "msg/s":
        lines.append({"bench": "spine", "metric": key + "_ratio_default_polling",
                      "value": round(ratio, 4)})

idle = load(idle_path)
if idle:
    print()
    print("idle osprey_tgt -m 0x3 (nothing configured)")
    print(f"{'metric':<26} {'default':>12} {'--polling':>12}")
    keys = []
    for r in idle:
        if r["metric"] not in keys:
            keys.append(r["metric"])
    for k in keys:
        row = {r["mode"]: r["value"] for r in idle if r["metric"] == k}
        f = lambda v: "-" if v is None else ("hang" if k == "shutdown_s" and v < 0 else f"{v:.3f}")
        print(f"{k:<26} {f(row.get('interrupt')):>12} {f(row.get('polling')):>12}")
    lines += idle

lines.append({"bench": "spine", "metric": "loadavg_1min", "value": load_start, "at": "start"})
lines.append({"bench": "spine", "metric": "loadavg_1min", "value": load_end, "at": "end"})
print()
with open(out_path, "a") as out:
    for l in lines:
        s = json.dumps(l)
        print(s)
        out.write(s + "\n")

# Goals of the issue, stated plainly.
def goal(name, ok):
    print(f"goal: {name}: {'met' if ok else 'NOT met'}")
print()
ic = [r["value"] for r in idle if r["metric"] == "idle_cpu_pct_schedstat" and r["mode"] == "interrupt"]
if ic:
    goal(f"idle osprey_tgt < 1% of a core ({ic[0]:.3f}%)", ic[0] < 1.0)
w = med("wakeup_p99_us", "interrupt")
if w is not None:
    goal(f"wake-up p99 < 50 us ({w:.1f} us; OS floor p99 "
         f"{med('wakeup_floor_p99_us', 'interrupt') or float('nan'):.1f} us)", w < 50)
for k in ("msgs_per_s_single", "msgs_per_s_burst32"):
    d, p = med(k, "interrupt"), med(k, "polling")
    if d and p:
        dv, pv = vals[(k, "interrupt")], vals[(k, "polling")]
        overlap = max(min(dv), min(pv)) <= min(max(dv), max(pv))
        goal(f"{k} default == polling within noise (median ratio {d / p:.3f}; runs "
             f"{min(dv) / 1e6:.2f}-{max(dv) / 1e6:.2f} vs {min(pv) / 1e6:.2f}-{max(pv) / 1e6:.2f} Mmsg/s)",
             abs(d / p - 1) <= 0.10 or overlap)
EOF

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Reference figures of a TCG guest (guest-bound: no KVM here) on one host
# file through two paths, in one guest boot:
#   vhost  vhost-user-blk-pci -> build/bin/vhost -m 0x1 (an aio bdev on FILE,
#          vhost_create_blk_controller vb0 aio0)
#   qemu   QEMU's built-in virtio-blk-pci on the same FILE (cache=none,
#          aio=native: O_DIRECT like the aio bdev; no iothread: QEMU's default)
# both with REF_QUEUES queues, guest RAM in a shared memfd (VM_MEM, see
# test/vhost/guest/vm_host.sh). The guest (the vhost test's guest, profile
# test/vhost/guest/profile, plus bench/vhost/guest/ioload built static here)
# runs each workload on both disks, alternating the order by round; the host
# prints the median and [min-max] of each, and one JSON line per result.
#
#   bench/vhost/run_vm_ref.sh [-n ROUNDS] [-t SECONDS] [-w "rw:bs:qd ..."]
#   (defaults: 5 rounds, 10 s a run, "randread:4096:32 read:131072:8")
# Env: OSPREY_BIN_DIR (vhost's folder), OSPREY_GUEST_DIR (guest cache),
#      VM_MEM, VM_VHOST_ARGS, REF_QUEUES (default 2), REF_DISK_MB (256),
#      KI_KEEP=1 (keep the temp dir).
# Needs qemu-system-x86_64, qboot (qemu-system-data), cc with a static libc.
# Stops only the processes it started.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

ROUNDS=5
SECS=10
WORKLOADS="randread:4096:32 read:131072:8"
while [ $# -gt 0 ]; do
	case "$1" in
	-n) ROUNDS=$2; shift 2 ;;
	-t) SECS=$2; shift 2 ;;
	-w) WORKLOADS=$2; shift 2 ;;
	*) echo "usage: $0 [-n ROUNDS] [-t SECONDS] [-w \"rw:bs:qd ...\"]" >&2; exit 2 ;;
	esac
done
NW=$(wc -w <<<"$WORKLOADS")

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
VHOST=$BIN_DIR/vhost
RPC=$ROOT/scripts/rpc.py
QUEUES=${REF_QUEUES:-2}
DISK_MB=${REF_DISK_MB:-256}
GUEST_MEM=512M
GUEST_BIOS=/usr/share/qemu/qboot.rom
# Boot, then 2 x ROUNDS x workloads runs, with room.
GUEST_TIMEOUT=$((120 + 2 * ROUNDS * NW * (SECS + 3)))
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "vm ref: $*"; }
TGT_LABEL=vhost
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
# shellcheck source=test/vhost/guest/vm_host.sh
. "$ROOT/test/vhost/guest/vm_host.sh"

ki_need_tools qemu-system-x86_64 cpio gzip timeout cc
[ -x "$VHOST" ] || die "no $VHOST: build first (make)"
[ -r "$GUEST_BIOS" ] || die "no $GUEST_BIOS (qemu-system-data)"
ki_tmp osp_vref
trap ki_cleanup EXIT

t=$(ms)
guest_build "$ROOT/test/vhost/guest/profile" || die "could not build the guest"
phase guest-image "$t"

SOCK=$TMP/rpc.sock
SDIR=$TMP/vsock
IMG=$TMP/ref.img
mkdir -p "$SDIR"
# Data everywhere (no holes: both paths really read the file).
head -c $((DISK_MB * 1048576)) /dev/urandom > "$IMG" || die "cannot write $IMG"
GUEST_QEMU_ARGS=()
vm_guest_memory || die "VM_MEM=${VM_MEM:-}: $VM_MEM_SKIP"

# shellcheck disable=SC2119 # no more options
vm_vhost_start
printf '%s\n' framework_wait_init "bdev_aio_create $IMG aio0 4096" "vhost_create_blk_controller vb0 aio0" |
	rpc_batch > "$TMP/rpc.out" 2>&1 || die "configuring vhost failed: $(tail -1 "$TMP/rpc.out")"
vm_wait_sockets "$SDIR/vb0"
GUEST_QEMU_ARGS+=(-chardev "socket,id=vb0c,path=$SDIR/vb0"
		  -device "vhost-user-blk-pci,chardev=vb0c,num-queues=$QUEUES"
		  -drive "file=$IMG,if=none,id=qd0,format=raw,cache=none,aio=native,file.locking=off,readonly=on"
		  -device "virtio-blk-pci,drive=qd0,num-queues=$QUEUES,serial=qemu0")

L=$TMP/layer
mkdir -p "$L/ki"
cc -static -O2 -Wall -Wextra -Werror -o "$L/ki/ioload" bench/vhost/guest/ioload.c || die "cannot build ioload (static libc?)"
install -m 0755 bench/vhost/guest/ref_test.sh "$L/ki/test.sh"
{
	echo "REF_VHOST_SERIAL=aio0"
	echo "REF_QEMU_SERIAL=qemu0"
	echo "REF_ROUNDS=$ROUNDS"
	echo "REF_SECS=$SECS"
	echo "REF_WORKLOADS='$WORKLOADS'"
} > "$L/ki/env"
log "vhost (pid $TPID, core 0) serves $IMG ($DISK_MB MiB) as vb0; QEMU's virtio-blk on the same file; $QUEUES queues each; guest RAM: $VM_MEM_DESC; $ROUNDS rounds of $WORKLOADS, $SECS s each"

# vhost's CPU time (utime + stime, ticks) over each run: the guest prints a
# run's line when it ends, and this hook (guest.sh runs it on every console
# line as it comes) charges the ticks since the previous line to that run.
HZ=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$TPID/stat" | awk '{print $12 + $13}'; }
LAST_TICKS=$(cpu_ticks)
LAST_MS=$(ms)
on_line() {
	local now t
	case "$1" in
	*OSPREY-REF-DISKS*|*OSPREY-REF\ *)
		now=$(cpu_ticks)
		t=$(ms)
		case "$1" in
		*OSPREY-REF\ *)
			echo "${1##*OSPREY-REF } vhost_cpu=$(awk -v d=$((now - LAST_TICKS)) -v hz="$HZ" -v ms=$((t - LAST_MS)) \
				'BEGIN { printf "%.2f", (ms > 0 ? d / hz / (ms / 1000) : 0) }')" | tr -d '\r' >> "$TMP/ref.txt" ;;
		esac
		LAST_TICKS=$now
		LAST_MS=$t ;;
	esac
}
GUEST_LINE_HOOK=on_line
: > "$TMP/ref.txt"
t=$(ms)
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
phase guest-run "$t"
case "$(guest_result)" in
PASS*) ;;
*) die "guest: $(guest_result) (QEMU exit $qrc)" ;;
esac
kill -0 "$TPID" 2>/dev/null || die "vhost died during the run"
grep 'OSPREY-REF-DISKS' "$GUEST_TXT" | sed 's/.*OSPREY-REF-DISKS/guest disks:/'

[ "$(wc -l < "$TMP/ref.txt")" -eq $((2 * ROUNDS * NW)) ] ||
	die "$(wc -l < "$TMP/ref.txt") results for $((2 * ROUNDS * NW)) runs"
python3 - "$TMP/ref.txt" "$(grep -c processor /proc/cpuinfo)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY' ||
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    t, rw, bs, qd, rnd = f[:5]
    kv = dict(x.split("=") for x in f[5:])
    rows.setdefault((rw, int(bs), int(qd)), {}).setdefault(t, []).append(kv)
def med(v, k):
    xs = [float(x[k]) for x in v]
    return statistics.median(xs), min(xs), max(xs)
print("%-22s %-6s %22s %12s %12s %22s" % ("workload", "path", "IOPS med [min-max]", "MiB/s med", "lat us med",
                                          "vhost daemon CPU med"))
for (rw, bs, qd), d in rows.items():
    name = "%s %dK qd%d" % (rw, bs // 1024, qd)
    for t in ("vhost", "qemu"):
        if t not in d:
            continue
        i, lo, hi = med(d[t], "iops")
        m = med(d[t], "mib_s")[0]
        lat = med(d[t], "lat_us")[0]
        cpu = med(d[t], "vhost_cpu")[0]
        print("%-22s %-6s %8.0f [%5.0f-%5.0f] %12.1f %12.0f %21.0f%%" % (name, t, i, lo, hi, m, lat, cpu * 100))
    if "vhost" in d and "qemu" in d:
        print("%-22s vhost/qemu IOPS ratio (medians): %.2f" % (name, med(d["vhost"], "iops")[0] / med(d["qemu"], "iops")[0]))
for (rw, bs, qd), d in rows.items():
    for t, v in d.items():
        print(json.dumps({"bench": "vm_ref", "path": t, "rw": rw, "bs": bs, "qd": qd, "rounds": len(v),
                          "iops_median": med(v, "iops")[0], "mib_s_median": med(v, "mib_s")[0],
                          "lat_us_median": med(v, "lat_us")[0],
                          "vhost_cpu_median": med(v, "vhost_cpu")[0], "iops": [float(x["iops"]) for x in v],
                          "cpus": int(sys.argv[2]), "loadavg": sys.argv[3]}))
PY
	die "cannot summarize $TMP/ref.txt"
log "done in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end test of the vhost daemon with a real guest: QEMU (TCG, no KVM
# needed; guest RAM in a shared memfd; qboot firmware) runs the Linux
# kernel's own virtio_blk driver on a vhost-user-blk-pci disk and its
# virtio_scsi + sd drivers on a vhost-user-scsi-pci disk (2 queues each)
# that build/bin/vhost serves. One guest boot for the whole file.
#
#   host: vhost (-S dir); blk: an aio bdev (fallocate: unmap + write zeroes)
#         on a file under a delay bdev (no delay until the restart step),
#         vhost_create_blk_controller; scsi: an aio bdev on a second file,
#         vhost_create_scsi_controller + target 0; save_config for the restart
#   guest (test/vhost/guest/vm_test.sh; data layout in test/vhost/guest/layout.sh),
#         for each disk: the disk has the configured size, block size, 2
#         blk-mq queues, (blk) serial = the bdev's name (GET_ID), discard and
#         write zeroes offered;
#         dd O_DIRECT writes a random pattern at 4 offsets with 4 KiB to 1 MiB
#         requests (+ fsync), reads each back and compares; blkdiscard and
#         blkdiscard -z on 4 ranges; the whole disk then equals the expected
#         image (zeroes there, data around them, zeroes elsewhere); the
#         scsi disk gets the other pattern (crossed disks would show)
#   restart (on by default, VHOST_VM_RESTART=0 skips it; blk, after the other
#         steps, the scsi disk deleted first: QEMU 7.2's vhost-user-scsi-pci
#         does not reconnect): on each vCPU (so on each queue) a guest
#         writer writes + reads back 256 KiB slots in a loop and a reader
#         reads and checks data that no longer changes; when the guest prints
#         OSPREY-VHOST-WRITING the host sets the delay bdev's write latency to
#         5 s (writes taken from the rings stay in flight while the reads
#         behind them complete), waits 1 s, SIGKILLs vhost and starts it
#         again with the saved configuration (same socket; QEMU's chardev has
#         reconnect=1), waits for QEMU to reconnect, then writes a mailbox
#         block into the backing file that tells the writers to finish their
#         pass: no read or write may fail, every slot must read back right.
#         Without inflight tracking (vhost-user INFLIGHT_SHMFD) QEMU can only
#         rewind each ring to its used index, so the new daemon redoes
#         completed reads and loses the held writes: the guest then logs
#         "virtio_blk ...: id N is not a head!" and I/O errors
#   end:  no I/O error in the guest's dmesg; the guest powers off; vhost
#         exits 0 on SIGTERM (no sanitizer report); each backing file equals
#         its expected image byte for byte (restart region and mailbox included)
# Fails on a guest I/O error, a QEMU or vhost crash (a watcher stops QEMU as
# soon as vhost dies outside the planned restart) or a timeout, with the
# guest console tail and vhost's log tails.
#
# Disk types: one set of functions per type, <type>_rpc (RPC lines),
# <type>_qemu (QEMU arguments), <type>_env (guest parameters), <type>_sockets,
# <type>_image, <type>_pattern, and <type>_steps in the guest script; DISKS
# (VM_DISKS) lists the types used: blk, scsi.
#
# The guest (kernel + initramfs with util-linux's blkdiscard) is cached in
# $OSPREY_GUEST_DIR (build/guest) by test/common/guest/build.sh with
# test/vhost/guest/profile.
#
# Env: OSPREY_BIN_DIR     vhost's folder (default build/bin)
#      OSPREY_GUEST_DIR   guest cache (default build/guest)
#      VHOST_VM_RESTART=0 skip the SIGKILL + restart step (run by default: it
#                         needs vhost's inflight tracking, doc/vhost.md "Guest test")
#      VM_TIMEOUT         seconds for the guest run (default 170)
#      VM_BOOT_TIMEOUT    seconds for the guest to reach its init (default 60)
#      VM_DISKS           disk types: "blk scsi" (default), "blk", "scsi"
#      VM_BIOS            firmware (default qboot; empty: QEMU's SeaBIOS)
#      VM_PACKED=1        packed virtqueues: the controllers offer them (blk:
#                         packed_ring) and QEMU's devices take them (packed=on);
#                         the guest's drivers must negotiate them (vhost's
#                         device-start log shows feature bit 34), the restart
#                         step then exercises the packed inflight region
#      VM_MEM             guest RAM: memfd (default), file (a file on /dev/shm:
#                         tmpfs, cannot be sealed), hugetlbfs (a hugetlbfs mount
#                         with enough free huge pages; skipped with the reason
#                         otherwise: the test never changes nr_hugepages);
#                         test/vhost/guest/vm_host.sh
#      VM_VHOST_ARGS      more vhost options
#      VM_SCSI_CPUMASK    cpumask of the scsi controller (e.g. 0x3 with
#                         VM_VHOST_ARGS="-m 0x3"): its queues on those cores
#      VM_TARGET=qsd      run the same guest steps against qemu-storage-daemon's
#                         vhost-user-blk export (a throttle node holds the writes
#                         in the restart step): tells a harness problem from a
#                         vhost bug
#      VM_SELFTEST=host   change one byte of the host's expected image: the
#                         test must then FAIL
#      KI_KEEP=1          keep the temp dir (logs, backing file)
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
# Exit status 0 when everything matched, 1 otherwise.
# shellcheck disable=SC2317 # functions called by name (disk types, the line hook)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
VHOST=$BIN_DIR/vhost
RPC=$ROOT/scripts/rpc.py
TIMEOUT=${VM_TIMEOUT:-170}
GUEST_TIMEOUT=$TIMEOUT
GUEST_MEMFD=1
GUEST_MEM=512M
# qboot (package qemu-system-data) rather than SeaBIOS: SeaBIOS's own
# virtio-scsi driver hangs on the vhost-user-scsi disk before the kernel
# starts; qboot boots -kernel straight away, and faster.
GUEST_BIOS=${VM_BIOS-/usr/share/qemu/qboot.rom}
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
# shellcheck source=test/vhost/guest/vm_host.sh
. "$ROOT/test/vhost/guest/vm_host.sh"
RESTART=${VHOST_VM_RESTART:-1}
PACKED=${VM_PACKED:-0}
QEMU_PACKED=
[ "$PACKED" = 1 ] && QEMU_PACKED=",packed=on"
TARGET=${VM_TARGET:-osprey}
SELFTEST=${VM_SELFTEST:-}

# Disk types (VM_DISKS): blk and scsi by default; qsd: blk only.
read -r -a DISKS <<< "${VM_DISKS:-blk scsi}"
QUEUES=2
BS=4096
DISK_KIB=65536
# The data layout (test/vhost/guest/layout.sh), in KiB: pattern regions
# OFF:LEN:BS (1 MiB requests, 64 KiB, 4 KiB, the disk's last MiB in 128 KiB)
# and blkdiscard (d) / blkdiscard -z (z) ranges OP:OFF:LEN inside them.
VM_REGIONS="1024:4096:1024 16384:2048:64 32768:512:4 64512:1024:128"
VM_ZAPS="d:2048:1024 z:4096:512 z:17000:12 d:64768:256"
PATTERN_MB=8
# The restart step: two writers of 12 x 256 KiB slots from 40 MiB (a pass
# is short: the writers stop at the end of the pass in which they see the
# mailbox); the mailbox block at 60 MiB.
RST_OFF_KIB=40960
RST_SLOT_KIB=256
RST_SLOTS=12
MAILBOX_KIB=61440
RST_MAX_S=30
# ... and beside each writer (on its vCPU, so its queue) a reader of data
# that no longer changes: OFF_KIB:PATTERN_SRC_KIB:LEN_KIB (the first
# region's first MiB).
RST_READ=1024:0:1024

log() { echo "vhost vm: $*"; }
TGT_LABEL=vhost
[ "$TARGET" = qsd ] && TGT_LABEL=qemu-storage-daemon
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
# shellcheck source=test/vhost/guest/layout.sh
. "$ROOT/test/vhost/guest/layout.sh"
ki_skip_without_qemu

ki_tmp osp_vvm
WPID=
vm_cleanup() {
	if [ -n "$WPID" ]; then
		kill "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
	ki_cleanup
}
trap vm_cleanup EXIT

ki_need_tools qemu-system-x86_64 cpio gzip timeout python3
[ -z "$GUEST_BIOS" ] || [ -r "$GUEST_BIOS" ] || die "no $GUEST_BIOS (qemu-system-data); VM_BIOS= uses SeaBIOS (blk only: VM_DISKS=blk)"
case "$TARGET" in
osprey) [ -x "$VHOST" ] || die "no $VHOST: build first (make)" ;;
qsd) ki_need_tools qemu-storage-daemon ;;
*) die "VM_TARGET=$TARGET: osprey or qsd" ;;
esac
case "$RESTART" in 0|1) ;; *) die "VHOST_VM_RESTART=$RESTART: 0 or 1" ;; esac

# The guest RAM backend (VM_MEM); hugetlbfs without free huge pages: skip.
GUEST_QEMU_ARGS=()
if ! vm_guest_memory; then
	log "SKIP (VM_MEM=$VM_MEM): $VM_MEM_SKIP"
	exit 0
fi

# ---- 1. the guest (cached) ------------------------------------------------
t=$(ms)
guest_build "$ROOT/test/vhost/guest/profile" ||
	die "could not build the guest (test/common/guest/build.sh test/vhost/guest/profile)"
phase "guest-image" "$t"

# ---- 2. the daemon and the disks ------------------------------------------
SOCK=$TMP/rpc.sock
SDIR=$TMP/vsock
IMG=$TMP/disk.img
mkdir -p "$SDIR"

# -- disk type blk: an aio bdev on IMG behind vhost-user-blk controller vb0
# through a delay bdev (no delay but during the restart step: see restart_vhost).
# (VM_TARGET=qsd: qemu-storage-daemon's export of IMG instead, see start_qsd.)
blk_rpc() {
	echo "bdev_aio_create $IMG aio0 $BS --fallocate"
	echo "bdev_delay_create -b aio0 -d delay0 -r 0 -t 0 -w 0 -n 0"
	echo "vhost_create_blk_controller vb0 delay0$([ "$PACKED" = 1 ] && echo " -p")"
}
blk_qemu() {
	GUEST_QEMU_ARGS+=(-chardev "socket,id=vb0c,path=$SDIR/vb0,reconnect=1"
			  -device "vhost-user-blk-pci,chardev=vb0c,num-queues=$QUEUES$QEMU_PACKED")
}
blk_env() {
	# GET_ID: Osprey answers the bdev's name; qemu-storage-daemon's is not checked.
	if [ "$TARGET" = qsd ]; then echo "VM_BLK_SERIAL=-"; else echo "VM_BLK_SERIAL=delay0"; fi
}
blk_sockets() { echo "$SDIR/vb0"; }
blk_image() { echo "$IMG"; }
blk_pattern() { echo pattern.bin; }

# -- disk type scsi: an aio bdev on IMG_SCSI as target 0 (LUN 0) of
# vhost-user-scsi controller vs0, with the other pattern (a disk writing to
# the other one's file shows). QEMU 7.2's vhost-user-scsi-pci has no
# reconnect: the restart step (blk) runs after the scsi steps and the guest
# touches the scsi disk no more once vhost is killed.
IMG_SCSI=$TMP/disk_scsi.img
scsi_rpc() {
	echo "bdev_aio_create $IMG_SCSI aio1 $BS --fallocate"
	echo "vhost_create_scsi_controller vs0${VM_SCSI_CPUMASK:+ --cpumask $VM_SCSI_CPUMASK}"
	echo "vhost_scsi_controller_add_target vs0 0 aio1"
}
scsi_qemu() {
	GUEST_QEMU_ARGS+=(-chardev "socket,id=vs0c,path=$SDIR/vs0"
			  -device "vhost-user-scsi-pci,chardev=vs0c,num_queues=$QUEUES$QEMU_PACKED")
}
scsi_env() { :; }
scsi_sockets() { echo "$SDIR/vs0"; }
scsi_image() { echo "$IMG_SCSI"; }
scsi_pattern() { echo pattern2.bin; }

wait_sockets() { # the controllers' vhost-user sockets exist
	# shellcheck disable=SC2046 # one socket per word
	vm_wait_sockets $(for d in "${DISKS[@]}"; do "${d}_sockets"; done)
}

# vhost's PID for the watcher ("restarting" while the restart is planned):
# $TMP/vhost.pid (vm_vhost_start writes it).
start_vhost() { # more vhost options
	vm_vhost_start "$@"
}

# The reference back end (VM_TARGET=qsd): qemu-storage-daemon exports IMG
# (blk only) through a throttle node whose write limit the restart step
# sets to hold writes; SOCK is its QMP socket.
start_qsd() {
	rm -f "$SOCK"
	ki_start_daemon qemu-storage-daemon \
		--blockdev "driver=file,node-name=file0,filename=$IMG,aio=threads,discard=unmap,cache.direct=on" \
		--object throttle-group,id=tg0 \
		--blockdev driver=throttle,node-name=thr0,file=file0,throttle-group=tg0,discard=unmap \
		--export "type=vhost-user-blk,id=exp0,node-name=thr0,addr.type=unix,addr.path=$SDIR/vb0,writable=on,num-queues=$QUEUES,logical-block-size=$BS" \
		--chardev "socket,id=qmp0,path=$SOCK,server=on,wait=off" --monitor chardev=qmp0
	echo "$TPID" > "$TMP/vhost.pid"
}
qmp() { # command [json arguments]
	python3 - "$SOCK" "$1" "${2:-}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
def cmd(c, a=None):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
cmd("qmp_capabilities")
r = cmd(sys.argv[2], json.loads(sys.argv[3]) if sys.argv[3] else None)
print(json.dumps(r))
sys.exit(1 if "error" in r else 0)
PY
}

t=$(ms)
for d in "${DISKS[@]}"; do
	declare -F "${d}_rpc" > /dev/null || die "VM_DISKS: no disk type $d (blk, scsi)"
	truncate -s "$((DISK_KIB * 1024))" "$("${d}_image")"
done
[ "$RESTART" = 0 ] || [[ " ${DISKS[*]} " == *" blk "* ]] || die "VHOST_VM_RESTART=1 needs the blk disk in VM_DISKS"
if [ "$TARGET" = qsd ]; then
	[ "${DISKS[*]}" = blk ] || die "VM_TARGET=qsd: blk disks only (VM_DISKS=blk)"
	start_qsd
	wait_sockets
	log "qemu-storage-daemon (pid $TPID) exports $IMG ($((DISK_KIB / 1024)) MiB, $BS-byte blocks) as vhost-user-blk $SDIR/vb0, $QUEUES queues"
else
	start_vhost
	{
		echo framework_wait_init
		for d in "${DISKS[@]}"; do "${d}_rpc"; done
	} | rpc_batch > "$TMP/rpc.out" 2>&1
	rc=$?
	cat "$TMP/rpc.out"
	[ $rc -eq 0 ] || die "configuring vhost failed: $(tail -1 "$TMP/rpc.out")"
	wait_sockets
	# The restart loads the same configuration from save_config's output.
	python3 "$RPC" -s "$SOCK" save_config > "$TMP/vhost.json" 2> "$TMP/save.err" ||
		die "save_config failed: $(tail -2 "$TMP/save.err")"
	log "vhost (pid $TPID) serves ${DISKS[*]} ($((DISK_KIB / 1024)) MiB files, $BS-byte blocks, $QUEUES queues each): $(for d in "${DISKS[@]}"; do "${d}_sockets"; done | tr '\n' ' ')"
	log "guest RAM: $VM_MEM_DESC"
fi
for d in "${DISKS[@]}"; do "${d}_qemu"; done
phase "vhost-setup" "$t"

# ---- 3. the guest run -------------------------------------------------------
L=$TMP/layer
ki_pattern "$L" "$PATTERN_MB"
head -c $((PATTERN_MB * 1048576)) /dev/urandom > "$L/ki/pattern2.bin"
[ "$(layout_pattern_kib)" -le $((PATTERN_MB * 1024)) ] || die "VM_REGIONS need more than the $PATTERN_MB MiB pattern"
[ $((RST_SLOTS * RST_SLOT_KIB)) -le $((PATTERN_MB * 1024)) ] || die "a restart writer's slots must fit in the pattern"
install -m 0755 "$ROOT/test/vhost/guest/vm_test.sh" "$L/ki/test.sh"
install -m 0644 "$ROOT/test/vhost/guest/layout.sh" "$L/ki/layout.sh"
{
	echo "VM_DISKS='${DISKS[*]}'"
	echo "VM_DISK_KIB=$DISK_KIB"
	echo "VM_BS=$BS"
	echo "VM_QUEUES=$QUEUES"
	echo "VM_REGIONS='$VM_REGIONS'"
	echo "VM_ZAPS='$VM_ZAPS'"
	echo "VM_RESTART=$RESTART"
	echo "VM_RST_OFF_KIB=$RST_OFF_KIB"
	echo "VM_RST_SLOT_KIB=$RST_SLOT_KIB"
	echo "VM_RST_SLOTS=$RST_SLOTS"
	echo "VM_MAILBOX_KIB=$MAILBOX_KIB"
	echo "VM_RST_MAX_S=$RST_MAX_S"
	echo "VM_RST_READ='$RST_READ'"
	for d in "${DISKS[@]}"; do "${d}_env"; done
} > "$L/ki/env"

# The restart, run from guest_wait's line hook (this shell) when the guest's
# writers have started.
RESTARTED=0
RESTART_INFO=
restart_vhost() {
	local t0 t1 t2 old=$TPID rc up
	# Writes the daemon has taken from the rings then wait 5 s in the delay
	# bdev (done on the file, not yet completed to the guest) while the
	# guest's readers on the same queues keep completing: at the SIGKILL
	# writes are surely in flight, with later reads completed after them.
	# (qemu-storage-daemon: one write a second from its throttle node.)
	if [ "$TARGET" = qsd ]; then
		qmp qom-set '{"path": "/objects/tg0", "property": "limits", "value": {"iops-write": 1}}' > "$TMP/rpc.out" 2>&1 ||
			die "restart: QMP qom-set of the throttle limits failed: $(tail -1 "$TMP/rpc.out")"
	else
		printf '%s\n' "bdev_delay_update_latency delay0 avg_write 5000000" \
			"bdev_delay_update_latency delay0 p99_write 5000000" | rpc_batch > "$TMP/rpc.out" 2>&1 ||
			die "restart: bdev_delay_update_latency failed: $(tail -1 "$TMP/rpc.out")"
	fi
	sleep 1
	kill -0 "$old" 2>/dev/null || die "restart: vhost died before the SIGKILL"
	echo restarting > "$TMP/vhost.pid"
	t0=$(ms)
	kill -KILL "$old"
	wait "$old" 2>/dev/null
	rc=$?
	TPID=
	[ "$rc" -eq 137 ] || die "restart: vhost exited with $rc instead of being killed"
	mv "$TMP/tgt.log" "$TMP/tgt.1.log"
	log "restart: $TGT_LABEL (pid $old) killed with SIGKILL while the guest writes (writes held $([ "$TARGET" = qsd ] && echo "by the throttle node" || echo "in the delay bdev for 5 s"))"
	if [ "$TARGET" = qsd ]; then
		start_qsd
	else
		start_vhost --json "$TMP/vhost.json"
	fi
	wait_sockets
	t1=$(ms)
	# Until QEMU's reconnect (every second) has set the device up again
	# (qemu-storage-daemon tells nothing: 3 s).
	up=0
	[ "$TARGET" = qsd ] && sleep 3 && up=1
	# Only the restarted blk controllers: QEMU 7.2's vhost-user-scsi-pci does
	# not reconnect.
	while [ "$up" = 0 ] && [ $(($(ms) - t1)) -lt 15000 ]; do
		if python3 "$RPC" -s "$SOCK" vhost_get_controllers 2>/dev/null |
			python3 -c 'import json, sys; c = [x for x in json.load(sys.stdin) if x.get("ctrlr") == "vb0"]; sys.exit(0 if c and c[0].get("connected") else 1)'; then
			up=1
			break
		fi
		kill -0 "$TPID" 2>/dev/null || die "restart: the new vhost died"
		sleep 0.1
	done
	# Not fatal here: the guest says what went wrong (a writer stuck if QEMU
	# never came back, its I/O errors if it came back and left again).
	[ "$up" = 1 ] || log "restart: vb0 not seen connected within 15 s of the new vhost's start"
	t2=$(ms)
	{ printf OSPREY-RESTARTED; head -c $((4096 - 16)) /dev/zero; } > "$TMP/mailbox.bin"
	dd if="$TMP/mailbox.bin" of="$IMG" bs=4096 seek=$((MAILBOX_KIB / 4)) count=1 conv=notrunc,fsync oflag=direct status=none ||
		die "restart: cannot write the mailbox block"
	RESTART_INFO="$TGT_LABEL down $(secs "$t0" "$t1") (new pid $TPID$([ "$TARGET" = osprey ] && echo ", --json from save_config")), $([ "$up" = 1 ] && echo "QEMU reconnected $(secs "$t1" "$t2") later" || echo "no reconnection seen in $(secs "$t1" "$t2")")"
	log "restart: $RESTART_INFO; mailbox written"
	RESTARTED=1
}
on_line() {
	case "$1" in
	*OSPREY-VHOST-WRITING*)
		if [ "$RESTART" = 1 ] && [ "$RESTARTED" = 0 ]; then
			restart_vhost
		fi ;;
	esac
}
GUEST_LINE_HOOK=on_line

# Stops QEMU as soon as vhost dies outside the planned restart, or when the
# guest has not reached its init after BOOT_S (firmware or device set-up
# stuck: SeaBIOS probes virtio-blk and virtio-scsi disks).
BOOT_S=${VM_BOOT_TIMEOUT:-60}
watch_vhost() { # qemu-pid
	local pid st n=0 off=0
	while sleep 0.5; do
		n=$((n + 1))
		# A device whose shutdown hangs (a SCSI command never answered)
		# keeps QEMU from powering off: 15 s after the guest's poweroff.
		if [ "$off" -gt 0 ] && [ "$n" -ge $((off + 30)) ]; then
			echo "QEMU still running 15 s after the guest's poweroff (a device's shutdown hangs): QEMU stopped" > "$TMP/vhost.died"
			kill "$1" 2>/dev/null
			return
		fi
		[ "$off" -eq 0 ] && grep -q OSPREY-POWEROFF "$TMP/guest.log" && off=$n
		if [ "$n" -eq $((BOOT_S * 2)) ] && ! grep -q OSPREY-BOOT "$TMP/guest.log"; then
			echo "the guest did not reach its init within ${BOOT_S}s (VM_BOOT_TIMEOUT): QEMU stopped" > "$TMP/vhost.died"
			kill "$1" 2>/dev/null
			return
		fi
		pid=$(cat "$TMP/vhost.pid" 2>/dev/null)
		case "$pid" in ''|*[!0-9]*) continue ;; esac
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
		if [ -z "$st" ] || [ "$st" = Z ]; then
			[ "$(cat "$TMP/vhost.pid" 2>/dev/null)" = "$pid" ] || continue
			echo "vhost (pid $pid) died while the guest was running: QEMU stopped" > "$TMP/vhost.died"
			kill "$1" 2>/dev/null
			return
		fi
	done
}

t=$(ms)
guest_start "$L" "$TMP/guest.log"
watch_vhost "$QPID" &
WPID=$!
guest_wait "$t"
qrc=$?
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
WPID=
phase "guest-run" "$t"
died=
[ -f "$TMP/vhost.died" ] && died="$(cat "$TMP/vhost.died") (QEMU exit $qrc)"
case "$(guest_result)" in
FAIL*) die "guest: $(guest_result)${died:+; then: $died}" ;;
esac
[ -z "$died" ] || die "$died"
ki_guest_passed "$qrc"
[ "$qrc" -eq 0 ] || die "QEMU exited with status $qrc after the guest passed"
if grep -qiE 'qemu-system.*(assert|abort|segmentation)' "$GUEST_TXT"; then
	die "QEMU reported: $(grep -iE 'qemu-system.*(assert|abort|segmentation)' "$GUEST_TXT" | head -2)"
fi
kill -0 "$TPID" 2>/dev/null || die "vhost died during the guest run"
if [ "$RESTART" = 1 ]; then
	[ "$RESTARTED" = 1 ] || die "the restart step did not run (no OSPREY-VHOST-WRITING from the guest?)"
	read -r P0 P1 < <(grep -m1 'OSPREY-RESTART-PASSES' "$GUEST_TXT" | sed 's/.*OSPREY-RESTART-PASSES //')
	[ -n "${P1:-}" ] || die "the guest did not report its restart writers' passes"
fi

# ---- 4. stop vhost, check the backing file ----------------------------------
t=$(ms)
echo stopping > "$TMP/vhost.pid"
kill -TERM "$TPID"
trc=
for _ in $(seq 150); do
	if ! kill -0 "$TPID" 2>/dev/null; then
		wait "$TPID"
		trc=$?
		break
	fi
	sleep 0.1
done
[ -n "$trc" ] || die "vhost did not exit within 15 s of SIGTERM"
TPID=
[ "$trc" -eq 0 ] || die "vhost exited with status $trc on SIGTERM"
for f in "$TMP"/tgt*.log; do
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
		die "sanitizer report in $(basename "$f")"
	fi
done
if [ "$TARGET" = osprey ]; then
	for d in "${DISKS[@]}"; do
		[ -e "$("${d}_sockets")" ] && die "vhost left its socket $("${d}_sockets") behind"
	done
fi
if [ "$PACKED" = 1 ] && [ "$TARGET" = osprey ]; then
	# The guest's own driver negotiated VIRTIO_F_RING_PACKED (bit 34): the last
	# start of each device did (a firmware's driver, SeaBIOS's, may start it
	# before on split rings).
	for d in "${DISKS[@]}"; do
		c=vb0
		[ "$d" = scsi ] && c=vs0
		n=0
		np=0
		last=
		while read -r f; do
			n=$((n + 1))
			last=$f
			[ $(( (f >> 34) & 1 )) = 1 ] && np=$((np + 1))
		done < <(cat "$TMP"/tgt*.log | grep -o "vhost $c: device started (.* features 0x[0-9a-f]*)" |
			 sed 's/.*features \(0x[0-9a-f]*\))$/\1/')
		[ "$n" -gt 0 ] || die "VM_PACKED=1: no start of $c in vhost's logs"
		[ $(( (last >> 34) & 1 )) = 1 ] || die "VM_PACKED=1: $c's last start was without packed rings (features $last)"
		log "$d: packed rings negotiated ($np of $n device start(s); the others: the firmware's driver)"
	done
fi
phase "vhost-stop" "$t"

t=$(ms)
for d in "${DISKS[@]}"; do
	EXP=$TMP/expected_$d.img
	IMGD=$("${d}_image")
	layout_expect "$EXP" "$L/ki/$("${d}_pattern")" "$DISK_KIB" || die "cannot build the expected image"
	extra=
	if [ "$RESTART" = 1 ] && [ "$d" = blk ]; then
		for w in 0 1; do
			p=$P0
			[ "$w" = 1 ] && p=$P1
			pat=$L/ki/pattern.bin
			[ $(((p - 1) % 2)) = 1 ] && pat=$L/ki/pattern2.bin
			dd if="$pat" of="$EXP" bs=1024 count=$((RST_SLOTS * RST_SLOT_KIB)) seek=$((RST_OFF_KIB + w * RST_SLOTS * RST_SLOT_KIB)) conv=notrunc status=none
		done
		dd if="$TMP/mailbox.bin" of="$EXP" bs=1024 seek="$MAILBOX_KIB" conv=notrunc status=none
		extra=", restart writers' last passes ($P0, $P1), mailbox"
	fi
	[ "$SELFTEST" = host ] && flip_byte "$EXP" $((1024 * 1024 + 777))
	[ "$(stat -c %s "$IMGD")" -eq $((DISK_KIB * 1024)) ] || die "$d: the backing file changed size: $(stat -c %s "$IMGD") bytes"
	if ! cmp "$EXP" "$IMGD" > "$TMP/cmp.out" 2>&1; then
		n=$(cmp -l "$EXP" "$IMGD" 2>/dev/null | wc -l)
		first=$(cmp -l "$EXP" "$IMGD" 2>/dev/null | head -1 | awk '{print $1 - 1}')
		die "$d: the backing file differs from what the guest wrote: $(cat "$TMP/cmp.out") ($n bytes differ, the first at KiB $((first / 1024)); regions $VM_REGIONS; zaps $VM_ZAPS; restart slots at $RST_OFF_KIB KiB)"
	fi
	log "$d: backing file matches: pattern regions, discarded / zeroed ranges$extra, zeroes elsewhere"
done
phase "verify" "$t"

[ "$RESTART" = 1 ] && log "restart: $RESTART_INFO"
[ "$RESTART" = 1 ] || log "restart step skipped (VHOST_VM_RESTART=0)"
log "PASS in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit 0

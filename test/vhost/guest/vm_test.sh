#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/vhost/vm_vhost.sh: the guest kernel's own virtio drivers
# on disks the vhost daemon on the host serves over vhost-user. Runs as
# /ki/test.sh from init; parameters in /ki/env, the data layout in
# /ki/layout.sh (shared with the host), random data in /ki/pattern.bin and
# /ki/pattern2.bin (made by the host for this run). For each disk type in
# VM_DISKS (blk for now; a function pair find_<type>/<type> steps per type):
#   1. the disk appears with the configured size, block size, queue count
#      (/sys/block/vdX/mq), serial (GET_ID), discard / write-zeroes limits
#   2. the pattern written at several offsets with dd O_DIRECT (request sizes
#      from 4 KiB to 1 MiB, fsync), each region read back and compared
#   3. blkdiscard and blkdiscard -z on ranges; the whole disk read back must
#      equal the expected image (zeroes there, data around them intact)
#   4. VM_RESTART=1 (the default): two writers (one per vCPU, so both queues) write and
#      read back slots in a loop; the host SIGKILLs the vhost daemon when it
#      sees OSPREY-VHOST-WRITING and restarts it, then writes a mailbox block
#      into the backing file; the writers stop at the end of the pass in
#      which they see it. No write may fail, every slot must read back right
#      right after its write and the whole region at the end
#   5. no I/O error (or worse) in dmesg
# Prints OSPREY-STEP lines and one OSPREY-RESULT line.
. /ki/env
. /ki/layout.sh

up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
since() { echo "$1 $(up)" | awk '{printf "%.2f s", $2 - $1}'; }
dump() {
	dmesg | grep -iE 'virtio|vd[a-z]|sd[a-z]|scsi|error|blk|I/O' | tail -30 | sed 's/^/dmesg: /'
}
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dump
	exit 1
}
# dmesg lines that mean a guest I/O went wrong (or the kernel did).
BAD_DMESG='I/O error|Buffer I/O|blk_update_request|critical (medium|target)|hung_task|blocked for more than|BUG:|WARNING:|Oops|virtio_blk.*(error|fail)|not a head|id [0-9]+ is not|out of range'
check_dmesg() { # label
	if dmesg | grep -qE "$BAD_DMESG"; then
		fail "$1: guest kernel reports: $(dmesg | grep -E "$BAD_DMESG" | head -3 | tr '\n' '|')"
	fi
}

wait_dev() { # sysfs-glob label: DEV = the first block device the glob names
	DEV=
	i=0
	while [ $i -lt 100 ]; do
		for b in $1; do
			[ -e "$b" ] && DEV=/dev/$(basename "$b")
		done
		[ -n "$DEV" ] && [ -b "$DEV" ] && return 0
		sleep 0.1; i=$((i + 1))
	done
	fail "$2: no disk after 10 s (block devices: $(ls /sys/block | tr '\n' ' '); SCSI devices: $(ls /sys/bus/scsi/devices 2>/dev/null | tr '\n' ' '))"
}

# ---- disk type blk: vhost-user-blk-pci, the guest's virtio_blk -------------
find_blk() {
	# The virtio-blk disk is the only vdX (the network card is virtio too).
	wait_dev "/sys/bus/virtio/drivers/virtio_blk/virtio*/block/vd*" "blk"
	b=$(basename "$DEV")
	size=$(( $(cat "/sys/block/$b/size") * 512 ))
	[ "$size" = $((VM_DISK_KIB * 1024)) ] || fail "blk: $DEV has $size bytes, expected $((VM_DISK_KIB * 1024))"
	lbs=$(cat "/sys/block/$b/queue/logical_block_size")
	[ "$lbs" = "$VM_BS" ] || fail "blk: $DEV logical block size $lbs, expected $VM_BS"
	nq=$(ls "/sys/block/$b/mq" | wc -l)
	[ "$nq" = "$VM_QUEUES" ] || fail "blk: $DEV has $nq queues (/sys/block/$b/mq: $(ls "/sys/block/$b/mq" | tr '\n' ' ')), expected $VM_QUEUES"
	serial=$(cat "/sys/block/$b/serial" 2>/dev/null)
	[ "$VM_BLK_SERIAL" = - ] || [ "$serial" = "$VM_BLK_SERIAL" ] || fail "blk: $DEV serial (GET_ID) '$serial', expected '$VM_BLK_SERIAL'"
	dmax=$(cat "/sys/block/$b/queue/discard_max_bytes")
	zmax=$(cat "/sys/block/$b/queue/write_zeroes_max_bytes")
	[ "$dmax" -gt 0 ] || fail "blk: $DEV does not offer discard (discard_max_bytes 0)"
	[ "$zmax" -gt 0 ] || fail "blk: $DEV does not offer write zeroes (write_zeroes_max_bytes 0)"
	step "blk: $DEV, $size bytes, $lbs-byte blocks, $nq queues, serial '$serial', discard max $dmax, write zeroes max $zmax, ro=$(cat "/sys/block/$b/ro")"
}

# ---- data steps, any disk ---------------------------------------------------
write_regions() { # label dev pattern
	t0=$(up)
	src=0
	for r in $VM_REGIONS; do
		off=${r%%:*}; rest=${r#*:}; len=${rest%%:*}; bs=${rest#*:}
		dd if="$3" of=/tmp/slice bs=1024 skip=$src count="$len" 2>/dev/null
		dd if=/tmp/slice of="$2" bs="${bs}k" seek=$((off / bs)) oflag=direct conv=fsync,notrunc 2>/tmp/dd.err ||
			fail "$1: write $len KiB at $off KiB (bs ${bs}k): $(tail -1 /tmp/dd.err)"
		dd if="$2" of=/tmp/rb bs="${bs}k" skip=$((off / bs)) count=$((len / bs)) iflag=direct 2>/tmp/dd.err ||
			fail "$1: read $len KiB at $off KiB (bs ${bs}k): $(tail -1 /tmp/dd.err)"
		cmp /tmp/rb /tmp/slice > /tmp/cmp.out 2>&1 ||
			fail "$1: $len KiB at $off KiB (bs ${bs}k) read back wrong: $(cat /tmp/cmp.out)"
		src=$((src + len))
	done
	rm -f /tmp/rb /tmp/slice
	step "$1: $src KiB written and read back right at $(echo "$VM_REGIONS" | wc -w) offsets (O_DIRECT, bs 4k-1M, fsync) in $(since "$t0")"
}

zap_ranges() { # label dev
	t0=$(up)
	for z in $VM_ZAPS; do
		op=${z%%:*}; rest=${z#*:}; off=${rest%%:*}; len=${rest#*:}
		case $op in
		d) opt= ; what=discard ;;
		z) opt=-z; what="write zeroes" ;;
		*) fail "$1: VM_ZAPS: bad entry $z" ;;
		esac
		# shellcheck disable=SC2086 # opt is empty or -z
		/sbin/blkdiscard $opt -o $((off * 1024)) -l $((len * 1024)) "$2" > /tmp/bd.err 2>&1 ||
			fail "$1: blkdiscard $opt ($what) of $len KiB at $off KiB: $(tr '\n' ' ' < /tmp/bd.err)"
	done
	step "$1: blkdiscard / blkdiscard -z on $(echo "$VM_ZAPS" | wc -w) ranges ($VM_ZAPS) in $(since "$t0")"
}

whole_disk() { # label dev pattern: the disk equals the expected image
	t0=$(up)
	layout_expect /tmp/expect.img "$3" "$VM_DISK_KIB" || fail "$1: cannot build the expected image"
	dd if="$2" of=/tmp/disk.img bs=1M iflag=direct 2>/tmp/dd.err || fail "$1: read the whole disk: $(tail -1 /tmp/dd.err)"
	# md5sum first: busybox's cmp reads a byte at a time (slow under TCG).
	if [ "$(md5sum < /tmp/disk.img)" != "$(md5sum < /tmp/expect.img)" ] &&
	   ! cmp /tmp/disk.img /tmp/expect.img > /tmp/cmp.out 2>&1; then
		n=$(cmp -l /tmp/disk.img /tmp/expect.img 2>/dev/null | wc -l)
		fail "$1: the disk differs from the expected image: $(head -1 /tmp/cmp.out) ($n bytes differ; zeroed ranges: $VM_ZAPS)"
	fi
	rm -f /tmp/disk.img /tmp/expect.img
	step "$1: whole disk ($((VM_DISK_KIB / 1024)) MiB) reads back as expected: data, zeroes where discarded / zeroed, zeroes elsewhere, in $(since "$t0")"
}

# ---- the restart step: writers ----------------------------------------------
mailbox_seen() { # dev
	[ "$(dd if="$1" bs=4096 skip=$((VM_MAILBOX_KIB / 4)) count=1 iflag=direct 2>/dev/null | head -c 16 | tr -d '\000')" = OSPREY-RESTARTED ]
}
writer() { # w dev
	w=$1 dev=$2
	sk=$VM_RST_SLOT_KIB
	base=$((VM_RST_OFF_KIB / sk + w * VM_RST_SLOTS))
	pass=0 maxt=0 worst=
	tstart=$(up)
	while :; do
		pat=/ki/pattern.bin
		[ $((pass % 2)) = 1 ] && pat=/ki/pattern2.bin
		s=0
		while [ $s -lt "$VM_RST_SLOTS" ]; do
			t0=$(up)
			if ! dd if=$pat of="$dev" bs="${sk}k" skip=$s seek=$((base + s)) count=1 oflag=direct conv=notrunc 2>/tmp/w$w.err; then
				echo "writer $w: write pass $pass slot $s failed: $(tail -1 /tmp/w$w.err)" > /tmp/w$w.fail
				return 1
			fi
			if ! dd if="$dev" of=/tmp/w$w.rb bs="${sk}k" skip=$((base + s)) count=1 iflag=direct 2>/tmp/w$w.err; then
				echo "writer $w: read pass $pass slot $s failed: $(tail -1 /tmp/w$w.err)" > /tmp/w$w.fail
				return 1
			fi
			if ! cmp -s -n $((sk * 1024)) /tmp/w$w.rb $pat 0 $((s * sk * 1024)); then
				echo "writer $w: pass $pass slot $s read back wrong right after its write" > /tmp/w$w.fail
				return 1
			fi
			t1=$(up)
			if [ "$(echo "$t0 $t1 $maxt" | awk '{print ($2 - $1 > $3) ? 1 : 0}')" = 1 ]; then
				maxt=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
				worst="pass $pass slot $s at t=$t0"
			fi
			[ "$w$pass$s" = 000 ] && echo "OSPREY-VHOST-WRITING (t=$(up))"
			s=$((s + 1))
		done
		pass=$((pass + 1))
		mailbox_seen "$dev" && break
		if [ "$(echo "$tstart $(up) $VM_RST_MAX_S" | awk '{print ($2 - $1 > $3) ? 1 : 0}')" = 1 ]; then
			echo "writer $w: no restart mailbox after ${VM_RST_MAX_S}s ($pass passes): the host did not restart the daemon?" > /tmp/w$w.fail
			return 1
		fi
	done
	echo "$pass $maxt $worst" > /tmp/w$w.done
}

reader() { # w dev: reads of data that no longer changes, till /tmp/stop
	w=$1 dev=$2
	roff=${VM_RST_READ%%:*}; rest=${VM_RST_READ#*:}; rsrc=${rest%%:*}; rlen=${rest#*:}
	n=0 k=0
	while [ ! -f /tmp/stop ]; do
		if ! dd if="$dev" of=/tmp/r$w.rb bs=64k skip=$((roff / 64 + k)) count=1 iflag=direct 2>/tmp/r$w.err; then
			echo "reader $w: read $n failed: $(tail -1 /tmp/r$w.err)" > /tmp/r$w.fail
			return 1
		fi
		if ! cmp -s -n 65536 /tmp/r$w.rb /ki/pattern.bin 0 $(((rsrc + k * 64) * 1024)); then
			echo "reader $w: read $n (64 KiB at $((roff + k * 64)) KiB) wrong" > /tmp/r$w.fail
			return 1
		fi
		n=$((n + 1)) k=$(((k + 1) % (rlen / 64)))
	done
	echo "$n" > /tmp/r$w.done
}

restart_step() { # label dev
	t0=$(up)
	mailbox_seen "$2" && fail "$1: the mailbox is set before the restart"
	rm -f /tmp/w0.* /tmp/w1.* /tmp/r0.* /tmp/r1.* /tmp/stop
	# One writer and one reader per vCPU: blk-mq maps each CPU to its own
	# queue, so each queue has a write and a read stream at once.
	for w in 0 1; do
		writer $w "$2" &
		taskset -p -c $w $! > /dev/null 2>&1
		reader $w "$2" &
		taskset -p -c $w $! > /dev/null 2>&1
	done
	# A request that never completes leaves its dd in D state for good:
	# give up after VM_RST_MAX_S + 15 s instead of waiting for the watchdog,
	# and at once on a failed writer or reader or an I/O error in dmesg.
	i=0
	while ! { [ -f /tmp/w0.done ] && [ -f /tmp/w1.done ]; }; do
		for f in /tmp/w0.fail /tmp/w1.fail /tmp/r0.fail /tmp/r1.fail; do
			[ -f $f ] && fail "$1: $(cat $f)"
		done
		[ $((i % 10)) = 0 ] && check_dmesg "$1 (writers and readers running; in flight, read/write: $(tr -s ' ' < "/sys/block/$(basename "$2")/inflight"))"
		if [ $i -ge $(((VM_RST_MAX_S + 15) * 10)) ]; then
			fail "$1: a writer is stuck after $((VM_RST_MAX_S + 15)) s: I/O that never completes (in flight, read/write: $(tr -s ' ' < "/sys/block/$(basename "$2")/inflight"); writer 0: $(cat /tmp/w0.err 2>/dev/null | head -c 200), writer 1: $(cat /tmp/w1.err 2>/dev/null | head -c 200))"
		fi
		sleep 0.1; i=$((i + 1))
	done
	touch /tmp/stop
	wait
	for w in 0 1; do
		[ -f /tmp/w$w.fail ] && fail "$1: $(cat /tmp/w$w.fail)"
		[ -f /tmp/w$w.done ] || fail "$1: writer $w ended without a result"
		[ -f /tmp/r$w.fail ] && fail "$1: $(cat /tmp/r$w.fail)"
		[ -f /tmp/r$w.done ] || fail "$1: reader $w ended without a result"
	done
	check_dmesg "$1"
	res=
	for w in 0 1; do
		read -r passes maxt worst < /tmp/w$w.done
		pat=/ki/pattern.bin
		[ $(((passes - 1) % 2)) = 1 ] && pat=/ki/pattern2.bin
		off=$((VM_RST_OFF_KIB + w * VM_RST_SLOTS * VM_RST_SLOT_KIB))
		dd if="$2" of=/tmp/rb bs="${VM_RST_SLOT_KIB}k" skip=$((off / VM_RST_SLOT_KIB)) count="$VM_RST_SLOTS" iflag=direct 2>/tmp/dd.err ||
			fail "$1: read writer $w's region: $(tail -1 /tmp/dd.err)"
		cmp -n $((VM_RST_SLOTS * VM_RST_SLOT_KIB * 1024)) /tmp/rb $pat > /tmp/cmp.out 2>&1 ||
			fail "$1: writer $w's region differs from its last pass ($passes): $(cat /tmp/cmp.out)"
		res="$res $passes"
		echo "OSPREY-STEP $1: writer $w: $passes passes of $VM_RST_SLOTS x $VM_RST_SLOT_KIB KiB, every slot read back right; longest write+read ${maxt} s ($worst); reader $w: $(cat /tmp/r$w.done) reads of 64 KiB right"
	done
	rm -f /tmp/rb
	echo "OSPREY-RESTART-PASSES$res"
	step "$1: writes went on across the daemon's SIGKILL and restart, no I/O error, data right, in $(since "$t0")"
}

blk_steps() {
	find_blk
	BLK_DEV=$DEV
	write_regions "blk write" "$DEV" /ki/pattern.bin
	zap_ranges "blk zap" "$DEV"
	whole_disk "blk verify" "$DEV" /ki/pattern.bin
	check_dmesg "blk"
}

# ---- disk type scsi: vhost-user-scsi-pci, virtio_scsi + sd ------------------
find_scsi() {
	if [ ! -f /tmp/virtio_scsi.rc ]; then
		i=0
		while [ ! -f /tmp/virtio_scsi.rc ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		[ -f /tmp/virtio_scsi.rc ] || fail "scsi: insmod virtio_scsi not done after $(since "$SCSI_T0") (its SCSI scan hangs: a command the target never answers; SCSI devices: $(ls /sys/bus/scsi/devices 2>/dev/null | tr '\n' ' '))"
	fi
	[ "$(cat /tmp/virtio_scsi.rc)" = 0 ] || fail "scsi: insmod virtio_scsi failed"
	wait_dev "/sys/bus/virtio/drivers/virtio_scsi/virtio*/host*/target*/*:0:0:0/block/sd*" "scsi"
	b=$(basename "$DEV")
	size=$(( $(cat "/sys/block/$b/size") * 512 ))
	[ "$size" = $((VM_DISK_KIB * 1024)) ] || fail "scsi: $DEV has $size bytes, expected $((VM_DISK_KIB * 1024))"
	lbs=$(cat "/sys/block/$b/queue/logical_block_size")
	[ "$lbs" = "$VM_BS" ] || fail "scsi: $DEV logical block size $lbs, expected $VM_BS"
	nq=$(ls "/sys/block/$b/mq" | wc -l)
	[ "$nq" = "$VM_QUEUES" ] || fail "scsi: $DEV has $nq queues (/sys/block/$b/mq: $(ls "/sys/block/$b/mq" | tr '\n' ' ')), expected $VM_QUEUES"
	dmax=$(cat "/sys/block/$b/queue/discard_max_bytes")
	zmax=$(cat "/sys/block/$b/queue/write_zeroes_max_bytes")
	[ "$dmax" -gt 0 ] || fail "scsi: $DEV does not offer discard (discard_max_bytes 0: no UNMAP in the Logical Block Provisioning VPD?)"
	step "scsi: $DEV, $size bytes, $lbs-byte blocks, $nq queues, vendor '$(tr -s ' ' < "/sys/block/$b/device/vendor")' model '$(tr -s ' ' < "/sys/block/$b/device/model")', discard max $dmax ($(cat "/sys/block/$b/device/scsi_disk/"*/provisioning_mode)), write zeroes max $zmax"
}
scsi_steps() {
	find_scsi
	SCSI_DEV=$DEV
	write_regions "scsi write" "$DEV" /ki/pattern2.bin
	zap_ranges "scsi zap" "$DEV"
	whole_disk "scsi verify" "$DEV" /ki/pattern2.bin
	check_dmesg "scsi"
}

step "patterns $(md5sum < /ki/pattern.bin | cut -c1-32) $(md5sum < /ki/pattern2.bin | cut -c1-32), disks: $VM_DISKS"
BLK_DEV= SCSI_DEV=
case " $VM_DISKS " in
*" scsi "*)
	# In the background: insmod returns only when the SCSI scan is done.
	SCSI_T0=$(up)
	( insmod /lib/modules/virtio_scsi.ko; echo $? > /tmp/virtio_scsi.rc ) &
	;;
esac
for t in $VM_DISKS; do
	"${t}_steps"
done
# Last: the other disks' back ends die with vhost too (QEMU 7.2's
# vhost-user-scsi-pci does not reconnect).
if [ "${VM_RESTART:-0}" = 1 ]; then
	[ -n "$BLK_DEV" ] || fail "VM_RESTART=1 without a blk disk"
	# QEMU 7.2's vhost-user-scsi-pci does not reconnect: the scsi disk goes
	# first, while its back end lives (or sd's SYNCHRONIZE CACHE at poweroff
	# would wait for the dead one).
	if [ -n "$SCSI_DEV" ]; then
		echo 1 > "/sys/block/$(basename "$SCSI_DEV")/device/delete" || fail "scsi: cannot delete $SCSI_DEV before the restart"
		step "scsi: $SCSI_DEV deleted before the restart (vhost-user-scsi-pci does not reconnect)"
	fi
	restart_step "blk restart" "$BLK_DEV"
else
	step "blk restart: skipped (VHOST_VM_RESTART=0 on the host)"
fi
check_dmesg "end"
dmesg | grep -E 'virtio_blk|vd[a-z]|sd[a-z]|virtio_scsi|scsi host' | tail -10 | sed 's/^/dmesg: /'
echo "OSPREY-RESULT: PASS"

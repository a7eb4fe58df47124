#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of bench/vhost/run_vm_ref.sh, run as /ki/test.sh by the guest's
# init. Two disks on the same host file: serial REF_VHOST_SERIAL
# (vhost-user-blk-pci, Osprey's vhost, GET_ID = the bdev's name) and
# REF_QEMU_SERIAL (QEMU's built-in virtio-blk-pci). For each round, each
# workload of REF_WORKLOADS ("rw:bs:qd" words) runs on both disks with
# /ki/ioload (O_DIRECT, native AIO), the disk order alternating by round.
# Prints "OSPREY-REF <target> <rw> <bs> <qd> <round> ios=.. secs=.. iops=..
# mib_s=.. lat_us=.." lines, then OSPREY-RESULT.
. /ki/env

fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dmesg | grep -iE 'virtio|vd[a-z]|error|I/O' | tail -20 | sed 's/^/dmesg: /'
	exit 1
}

find_serial() { # serial: the vdX whose serial it is
	i=0
	while [ $i -lt 100 ]; do
		for b in /sys/block/vd*; do
			[ -e "$b/serial" ] || continue
			if [ "$(cat "$b/serial")" = "$1" ]; then
				echo "/dev/$(basename "$b")"
				return 0
			fi
		done
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

VH=$(find_serial "$REF_VHOST_SERIAL") || fail "no disk with serial $REF_VHOST_SERIAL (vhost-user-blk)"
QD=$(find_serial "$REF_QEMU_SERIAL") || fail "no disk with serial $REF_QEMU_SERIAL (QEMU virtio-blk)"
echo "OSPREY-REF-DISKS vhost=$VH qemu=$QD queues=$(ls "/sys/block/$(basename "$VH")/mq" | wc -l)/$(ls "/sys/block/$(basename "$QD")/mq" | wc -l)"
# Both disks are the same file: the first bytes agree.
[ "$(dd if="$VH" bs=4096 count=1 iflag=direct 2>/dev/null | md5sum)" = \
  "$(dd if="$QD" bs=4096 count=1 iflag=direct 2>/dev/null | md5sum)" ] ||
	fail "the two disks differ: not the same file?"

r=1
while [ $r -le "$REF_ROUNDS" ]; do
	if [ $((r % 2)) = 1 ]; then order="vhost qemu"; else order="qemu vhost"; fi
	for w in $REF_WORKLOADS; do
		rw=${w%%:*}; rest=${w#*:}; bs=${rest%%:*}; qd=${rest#*:}
		for t in $order; do
			dev=$VH
			[ "$t" = qemu ] && dev=$QD
			out=$(/ki/ioload "$dev" "$rw" "$bs" "$qd" "$REF_SECS" 2>&1) ||
				fail "ioload $t $rw $bs $qd: $out"
			echo "OSPREY-REF $t $rw $bs $qd $r $out"
		done
	done
	r=$((r + 1))
done
if dmesg | grep -qE 'I/O error|blk_update_request|not a head|hung_task|BUG:|WARNING:'; then
	fail "guest kernel reports: $(dmesg | grep -E 'I/O error|not a head|BUG:|WARNING:' | head -3 | tr '\n' '|')"
fi
echo "OSPREY-RESULT: PASS"

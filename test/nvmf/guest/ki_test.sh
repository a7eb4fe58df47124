#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/nvmf/kernel_initiator.sh: the Linux kernel's nvme-tcp
# initiator against Osprey's nvmf_tgt on the host (10.0.2.2 through slirp).
# Runs as /ki/test.sh from init; parameters come from /ki/env (written by the
# host), the data from /ki/pattern.bin (random bytes made by the host for this
# run). Steps:
#   1. a host NQN that is not on the subsystem's allow list must be refused
#   2. connect; check what the kernel learnt from Identify (serial, size,
#      block size); write the pattern at KI_OFF_MB with O_DIRECT + fsync
#      (Flush), read it back with O_DIRECT and compare; the first MiB, never
#      written, must read as zeros; 16 single 4 KiB writes (in-capsule data)
#      at every other block from KI_OFF3_MB, read back; disconnect
#   3. (KI_DIGEST=1) connect with header and data digests; read the pattern
#      back, write it again at KI_OFF2_MB, read that back; disconnect
# Prints OSPREY-STEP lines and one OSPREY-RESULT line.
. /ki/env
H=10.0.2.2
EXPECT=/ki/expect.bin
[ -f "$EXPECT" ] || EXPECT=/ki/pattern.bin
CTRL=
NS=

up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
dump() {
	dmesg | grep -i nvme | tail -40 | sed 's/^/dmesg: /'
}
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dump
	[ -n "$CTRL" ] && [ -e /sys/class/nvme/$CTRL/delete_controller ] &&
		echo 1 > /sys/class/nvme/$CTRL/delete_controller 2>/dev/null
	exit 1
}
rate() { # t0 t1 bytes
	echo "$1 $2 $3" | awk '{d = $2 - $1; if (d <= 0) d = 0.01; printf "%.2f s, %.1f MiB/s", d, $3 / d / 1048576}'
}

connect() { # hostnqn extra-options label
	t0=$(up)
	# ctrl_loss_tmo: a failed connection must fail I/O soon, not retry for
	# the default 10 minutes.
	opts="transport=tcp,traddr=$H,trsvcid=$KI_PORT,nqn=$KI_SUBNQN,hostnqn=$1,ctrl_loss_tmo=5,reconnect_delay=1$2"
	if ! echo "$opts" > /dev/nvme-fabrics 2>/tmp/connect.err; then
		return 1
	fi
	CTRL=
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat $c/subsysnqn 2>/dev/null)" = "$KI_SUBNQN" ] && CTRL=$(basename $c)
	done
	[ -n "$CTRL" ] || fail "$3: connected, but no controller of $KI_SUBNQN in /sys/class/nvme"
	# The namespace block device appears after an asynchronous scan.
	NS=
	i=0
	while [ $i -lt 200 ]; do
		for d in /dev/nvme*n1; do
			[ -b "$d" ] && NS=$d
		done
		[ -n "$NS" ] && break
		sleep 0.1; i=$((i + 1))
	done
	[ -n "$NS" ] || fail "$3: $CTRL is $(cat /sys/class/nvme/$CTRL/state) but no namespace device after 20 s"
	step "$3: connected $CTRL ($(cat /sys/class/nvme/$CTRL/state), $(cat /sys/class/nvme/$CTRL/queue_count) queues) -> $NS in $(echo "$t0 $(up)" | awk '{printf "%.2f s", $2 - $1}')"
	return 0
}

disconnect() { # label
	c=$CTRL
	echo 1 > /sys/class/nvme/$c/delete_controller || fail "$1: delete_controller of $c failed"
	i=0
	while [ -e /sys/class/nvme/$c ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /sys/class/nvme/$c ] && fail "$1: $c still exists 10 s after delete_controller"
	CTRL=
	step "$1: disconnected $c"
}

dderr() { grep -m1 'dd:' /tmp/dd.err || tail -1 /tmp/dd.err; }
# dd with O_DIRECT, timed: ddt LABEL BYTES dd-args...
ddt() {
	l=$1; b=$2; shift 2
	t0=$(up)
	dd "$@" 2>/tmp/dd.err || fail "$l: dd $*: $(dderr)"
	step "$l: $b bytes, $(rate $t0 $(up) $b)"
}

check_readback() { # label offset_mb
	ddt "$1 read" $LEN if=$NS of=/tmp/readback bs=1M skip=$2 count=$KI_LEN_MB iflag=direct
	cmp /tmp/readback $EXPECT > /tmp/cmp.out 2>&1 ||
		fail "$1: data read back at ${2} MiB differs from what was written: $(cat /tmp/cmp.out)"
	rm -f /tmp/readback
	step "$1: read back matches ($KI_LEN_MB MiB at $2 MiB)"
}

# KI_REFERENCE=1: serve the namespace from the Linux kernel's own target
# (nvmet-tcp on the guest's 127.0.0.1, a file on tmpfs), so that a failure
# can be pinned on the harness or on the target under test.
reference_target() {
	for m in $(cat /etc/modules.ref); do
		insmod /lib/modules/$m.ko || fail "reference: insmod $m"
	done
	mount -t configfs configfs /sys/kernel/config 2>/dev/null
	N=/sys/kernel/config/nvmet
	S=$N/subsystems/$KI_SUBNQN
	dd if=/dev/zero of=/tmp/ref.img bs=1M count=0 seek=$((KI_NS_BYTES / 1048576)) 2>/dev/null
	mkdir $S $S/namespaces/1 $N/hosts/$KI_HOSTNQN $N/ports/1 || fail "reference: configfs"
	echo 0 > $S/attr_allow_any_host
	echo "$KI_SERIAL" > $S/attr_serial
	ln -s $N/hosts/$KI_HOSTNQN $S/allowed_hosts/$KI_HOSTNQN
	echo /tmp/ref.img > $S/namespaces/1/device_path
	echo 1 > $S/namespaces/1/buffered_io	# tmpfs has no O_DIRECT
	echo 1 > $S/namespaces/1/enable || fail "reference: enable namespace"
	echo tcp > $N/ports/1/addr_trtype
	echo ipv4 > $N/ports/1/addr_adrfam
	echo 127.0.0.1 > $N/ports/1/addr_traddr
	echo "$KI_PORT" > $N/ports/1/addr_trsvcid
	ln -s $S $N/ports/1/subsystems/$KI_SUBNQN || fail "reference: port"
	H=127.0.0.1
	step "reference: Linux nvmet-tcp serves $KI_SUBNQN on $H:$KI_PORT"
}

LEN=$((KI_LEN_MB * 1048576))
[ "$KI_REFERENCE" = 1 ] && reference_target
[ -e /dev/nvme-fabrics ] || fail "no /dev/nvme-fabrics (nvme-fabrics module not loaded?)"
step "pattern $(md5sum < /ki/pattern.bin | cut -c1-32), $LEN bytes; target $H:$KI_PORT $KI_SUBNQN"

# 1. a host that is not allowed
if [ -n "$KI_BADHOSTNQN" ]; then
	if connect "$KI_BADHOSTNQN" "" "wrong host"; then
		fail "wrong host: the target accepted $KI_BADHOSTNQN, which is not on the allow list of $KI_SUBNQN"
	fi
	err=$(cat /tmp/connect.err)
	case "$err" in
	*"Connection refused"*) fail "cannot reach the target at $H:$KI_PORT: $err" ;;
	esac
	step "wrong host: refused as it should be ($err)"
fi

# 2. plain connection: write, read back, check
connect "$KI_HOSTNQN" "" "connect" || fail "connect to $H:$KI_PORT $KI_SUBNQN as $KI_HOSTNQN failed: $(cat /tmp/connect.err); $(dmesg | grep -i nvme | tail -3 | tr '\n' ' ')"
s=$(cat /sys/class/nvme/$CTRL/serial | sed 's/ *$//')
m=$(cat /sys/class/nvme/$CTRL/model | sed 's/ *$//')
b=$(basename $NS)
size=$(( $(cat /sys/block/$b/size) * 512 ))
lbs=$(cat /sys/block/$b/queue/logical_block_size)
step "identify: model '$m' serial '$s' fw '$(cat /sys/class/nvme/$CTRL/firmware_rev)' transport $(cat /sys/class/nvme/$CTRL/transport) size $size block $lbs"
[ "$s" = "$KI_SERIAL" ] || fail "identify: serial '$s', expected '$KI_SERIAL'"
[ "$size" = "$KI_NS_BYTES" ] || fail "identify: namespace size $size bytes, expected $KI_NS_BYTES"
[ "$lbs" = "$KI_BS" ] || fail "identify: logical block size $lbs, expected $KI_BS"
ddt "write" $LEN if=/ki/pattern.bin of=$NS bs=1M seek=$KI_OFF_MB oflag=direct conv=fsync
check_readback "plain" $KI_OFF_MB
dd if=$NS bs=1M count=1 iflag=direct 2>/dev/null | md5sum > /tmp/z1
dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum > /tmp/z2
cmp -s /tmp/z1 /tmp/z2 || fail "plain: the first MiB, never written, does not read as zeros"
step "plain: unwritten first MiB reads as zeros"
# Small writes travel in the command capsule when the target offers enough
# in-capsule data space (1 MiB ones need R2T + H2C data): write pattern
# blocks 0..15 one by one, 4 KiB each, at every other 4 KiB block from
# KI_OFF3_MB, then check the 128 KiB region in one read.
t0=$(up)
dd if=/dev/zero of=/tmp/exp3 bs=128k count=1 2>/dev/null
i=0
while [ $i -lt 16 ]; do
	dd if=/ki/pattern.bin of=$NS bs=4k count=1 skip=$i seek=$((KI_OFF3_MB * 256 + 2 * i)) oflag=direct 2>/tmp/dd.err ||
		fail "small: 4 KiB write $i: $(dderr)"
	dd if=$EXPECT of=/tmp/exp3 bs=4k count=1 skip=$i seek=$((2 * i)) conv=notrunc 2>/dev/null
	i=$((i + 1))
done
dd if=$NS of=/tmp/rb3 bs=128k count=1 skip=$((KI_OFF3_MB * 8)) iflag=direct 2>/tmp/dd.err ||
	fail "small: read: $(dderr)"
cmp /tmp/rb3 /tmp/exp3 > /tmp/cmp.out 2>&1 ||
	fail "small: 16 scattered 4 KiB writes at $KI_OFF3_MB MiB read back wrong: $(cat /tmp/cmp.out)"
step "small: 16 scattered 4 KiB writes at $KI_OFF3_MB MiB read back right in $(echo "$t0 $(up)" | awk '{printf "%.2f s", $2 - $1}')"
disconnect "plain"

# 3. digests
if [ "$KI_DIGEST" = 1 ]; then
	connect "$KI_HOSTNQN" ",hdr_digest,data_digest" "digest" ||
		fail "connect with hdr_digest,data_digest failed: $(cat /tmp/connect.err); $(dmesg | grep -i nvme | tail -3 | tr '\n' ' ')"
	check_readback "digest" $KI_OFF_MB
	ddt "digest write" $LEN if=/ki/pattern.bin of=$NS bs=1M seek=$KI_OFF2_MB oflag=direct conv=fsync
	check_readback "digest" $KI_OFF2_MB
	disconnect "digest"
fi

dump
echo "OSPREY-RESULT: PASS"

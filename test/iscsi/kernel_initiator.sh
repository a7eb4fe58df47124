#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end test of iscsi_tgt with a third-party initiator: the Linux
# kernel's iscsi_tcp driver + open-iscsi's iscsid/iscsiadm (Debian's
# open-iscsi package, unpacked into the guest) in a QEMU guest (TCG, no KVM
# needed), reaching the host through QEMU's user networking (slirp).
#
#   host: iscsi_tgt, an aio bdev on a file in a temp dir, a portal group on
#         127.0.0.1:PORT, an initiator group with the guest's initiator name,
#         a CHAP auth group, one target node (LUN 0 = the bdev) that requires CHAP
#   guest (test/iscsi/guest/ki_test.sh, reaching the host as 10.0.2.2):
#         SendTargets discovery; a wrong CHAP secret is refused; CHAP login;
#         the disk has the configured size; write a random pattern with
#         O_DIRECT, read it back and compare; KI_READS single 1 MiB O_DIRECT
#         reads, each timed and compared (any read slower than KI_READ_MAX_MS
#         fails the test: see doc/kernel_initiator.md, "read stalls");
#         logout; login again; verify again (+ KI_READS2 timed reads); logout
#   host: stop iscsi_tgt (it must exit cleanly) and compare the backing file
#         byte for byte with what the guest should have written
# The guest (kernel + initramfs with open-iscsi) is cached in $OSPREY_GUEST_DIR
# (build/guest) by test/common/guest/build.sh with test/iscsi/guest/profile.
#
# Env: OSPREY_BIN_DIR   iscsi_tgt's folder (default build/bin)
#      OSPREY_GUEST_DIR guest cache (default build/guest)
#      KI_PORT          first port to try (default 3260+; the next free one, 20 tries)
#      KI_TIMEOUT       seconds for the guest run (default 280)
#      KI_CPUMASK       iscsi_tgt's -m (default 0x1)
#      KI_READS         timed 1 MiB reads in the first session (default 120: with 50 more after the re-login, a stall class of 5 % of reads is caught with p > 0.9999)
#      KI_READS2        timed 1 MiB reads after the re-login (default 50)
#      KI_READ_MAX_MS   slowest read allowed (default 1000)
#      KI_TARGET=tgtd   run the same guest steps against Debian's tgtd (package
#                       tgt) instead: tells a harness problem from a target bug
#      KI_SELFTEST=guest|host|nochap  break one thing on purpose: the test must
#                       then FAIL (guest: the guest compares against a pattern
#                       with one byte changed; host: the host does; nochap: the
#                       target node disables CHAP (-d), so the wrong secret gets in)
#      KI_GUEST_RX=softirq  iscsi_tcp in the guest reads from the network softirq
#                       (the kernel's default) instead of its workqueue (wq, the
#                       default here): reproduces the ~5 s read stalls of
#                       doc/kernel_initiator.md, with any target, tgtd included
#      KI_ISCSID_CONF  extra iscsid.conf lines for the guest, ';'-separated
#                       (e.g. 'node.conn[0].iscsi.MaxRecvDataSegmentLength = 8192')
#      KI_GUEST_SETUP  shell commands the guest runs before starting iscsid
#      KI_TGT_ARGS      more iscsi_tgt options (e.g. --polling)
#      KI_PCAP=FILE     record the guest's network traffic (QEMU filter-dump)
#      KI_KEEP=1        keep the temp dir (logs, backing file)
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
# Exit status 0 when everything matched, 1 otherwise.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
TGT=$BIN_DIR/iscsi_tgt
RPC=$ROOT/scripts/rpc.py
TIMEOUT=${KI_TIMEOUT:-280}
GUEST_TIMEOUT=$TIMEOUT
GUEST_PCAP=${KI_PCAP:-}
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
TARGET=${KI_TARGET:-osprey}
SELFTEST=${KI_SELFTEST:-}
CPUMASK=${KI_CPUMASK:-0x1}
READS=${KI_READS:-120}
READS2=${KI_READS2:-50}
READ_MAX_MS=${KI_READ_MAX_MS:-1000}
DISK_MB=64		# backing file / LUN size
LEN_MB=8		# pattern size
OFF_MB=1		# where the guest writes it
BS=4096

log() { echo "iscsi kernel_initiator: $*"; }
TGT_LABEL=iscsi_tgt
[ "$TARGET" = tgtd ] && TGT_LABEL=tgtd
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
ki_skip_without_qemu
case "$TARGET" in
osprey|tgtd) ;;
*) log "KI_TARGET=$TARGET: osprey or tgtd"; exit 1 ;;
esac

ki_tmp osp_iki

ki_need_tools qemu-system-x86_64 cpio gzip gcc timeout
if [ "$TARGET" = tgtd ]; then
	for tool in tgtd tgtadm; do
		command -v "$tool" >/dev/null || die "$tool not found: KI_TARGET=tgtd needs Debian's tgt package"
	done
else
	[ -x "$TGT" ] || die "no $TGT: build first (make)"
fi

# ---- 1. the guest (cached) ------------------------------------------------
t=$(ms)
guest_build "$ROOT/test/iscsi/guest/profile" || die "could not build the guest (test/common/guest/build.sh test/iscsi/guest/profile)"
L=$TMP/layer
mkdir -p "$L/ki"
# The read-latency probe: static, the guest has no libc of its own for it.
gcc -static -O2 -o "$L/ki/rdlat" "$ROOT/test/common/guest/rdlat.c" 2> "$TMP/gcc.log" ||
	die "cannot build test/common/guest/rdlat.c statically (libc6-dev): $(tail -2 "$TMP/gcc.log")"
phase "guest-image" "$t"

# ---- 2. the target ----------------------------------------------------------
t=$(ms)
ki_pick_port "${KI_PORT:-3260}" 20
SOCK=$TMP/rpc.sock
IQN=iqn.2016-06.io.osprey:ki-disk
INITIATOR=iqn.2016-06.io.osprey.guest:$(cut -c1-8 /proc/sys/kernel/random/uuid)
CHAP_USER=kiuser$$
CHAP_SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
BAD_SECRET=wrong${CHAP_SECRET}
IMG=$TMP/disk.img

start_osprey() {
	# shellcheck disable=SC2086 # KI_TGT_ARGS: more options, split on spaces
	ki_start_daemon "$TGT" -m "$CPUMASK" -r "$SOCK" ${KI_TGT_ARGS:-}
	local chap="-r -g 1"
	[ "$SELFTEST" = nochap ] && chap=-d
	rpc_batch > "$TMP/rpc.out" 2>&1 <<-EOF
		framework_wait_init
		bdev_aio_create $IMG aio0 $BS
		iscsi_create_portal_group 1 127.0.0.1:$PORT
		iscsi_create_initiator_group 2 $INITIATOR 127.0.0.1/32
		iscsi_create_auth_group 1 -c 'user:$CHAP_USER secret:$CHAP_SECRET'
		iscsi_create_target_node $IQN 'Osprey kernel initiator test' aio0:0 1:2 64 $chap
	EOF
	local rc=$?
	cat "$TMP/rpc.out"
	[ $rc -eq 0 ] || die "configuring iscsi_tgt failed: $(tail -1 "$TMP/rpc.out")"
	log "iscsi_tgt -m $CPUMASK (pid $TPID) serves $IQN (LUN 0: aio0, $DISK_MB MiB file, $BS-byte blocks) on 127.0.0.1:$PORT to $INITIATOR$([ "$chap" = -d ] && echo " without CHAP (KI_SELFTEST=nochap)" || echo " with CHAP required")"
}

start_tgtd() {
	# Its own management port: other tgtd instances may run on this machine.
	local cport=$((PORT + 100)) tid=1
	TGTADM=(tgtadm -C "$cport" --lld iscsi)
	tgtd -f -C "$cport" --iscsi "portal=127.0.0.1:$PORT" > "$TMP/tgt.log" 2>&1 &
	TPID=$!
	for _ in $(seq 100); do
		"${TGTADM[@]}" --op show --mode target > /dev/null 2>&1 && break
		kill -0 "$TPID" 2>/dev/null || die "tgtd exited at start-up: $(tail -3 "$TMP/tgt.log")"
		sleep 0.1
	done
	{
		"${TGTADM[@]}" --op new --mode target --tid $tid -T "$IQN" &&
		"${TGTADM[@]}" --op new --mode logicalunit --tid $tid --lun 1 -b "$IMG" --blocksize $BS &&
		"${TGTADM[@]}" --op bind --mode target --tid $tid --initiator-name "$INITIATOR" &&
		if [ "$SELFTEST" != nochap ]; then
			"${TGTADM[@]}" --op new --mode account --user "$CHAP_USER" --password "$CHAP_SECRET" &&
			"${TGTADM[@]}" --op bind --mode account --tid $tid --user "$CHAP_USER"
		fi
	} > "$TMP/rpc.out" 2>&1 || die "configuring tgtd failed: $(tail -2 "$TMP/rpc.out")"
	log "tgtd (pid $TPID) serves $IQN (LUN 1: $DISK_MB MiB file, $BS-byte blocks) on 127.0.0.1:$PORT to $INITIATOR"
}

truncate -s "${DISK_MB}M" "$IMG"
if [ "$TARGET" = tgtd ]; then
	start_tgtd
	LUN_FIND=1	# tgtd's LUN 0 is its controller; the disk is LUN 1
else
	start_osprey
	LUN_FIND=0
fi
phase "target-setup" "$t"

# ---- 3. the guest run -------------------------------------------------------
t=$(ms)
ki_pattern "$L" "$LEN_MB"
install -m 0755 "$ROOT/test/iscsi/guest/ki_test.sh" "$L/ki/test.sh"
cat > "$L/ki/env" <<EOF
KI_PORT=$PORT
KI_IQN=$IQN
KI_INITIATOR=$INITIATOR
KI_CHAP_USER=$CHAP_USER
KI_CHAP_SECRET=$CHAP_SECRET
KI_BAD_SECRET=$BAD_SECRET
KI_DISK_BYTES=$((DISK_MB * 1048576))
KI_BS=$BS
KI_LUN=$LUN_FIND
KI_LEN_MB=$LEN_MB
KI_OFF_MB=$OFF_MB
KI_READS=$READS
KI_READS2=$READS2
KI_READ_MAX_MS=$READ_MAX_MS
KI_ISCSID_CONF='${KI_ISCSID_CONF:-}'
KI_GUEST_SETUP='${KI_GUEST_SETUP:-}'
KI_GUEST_RX=${KI_GUEST_RX:-wq}
EOF
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
phase "guest-run" "$t"
kill -0 "$TPID" 2>/dev/null || die "$TARGET died during the guest run"
ki_guest_passed "$qrc"
LAT=$(grep 'OSPREY-LATENCY' "$GUEST_TXT" | sed 's/.*OSPREY-LATENCY /  /')

# ---- 4. stop the target, check the backing file ----------------------------
t=$(ms)
if [ "$TARGET" = tgtd ]; then
	# tgtd ignores SIGTERM while it has targets: shut it down through tgtadm.
	"${TGTADM[@]}" --op delete --mode target --tid 1 --force > /dev/null 2>&1
	tgtadm -C "$((PORT + 100))" --op delete --mode system > /dev/null 2>&1 || kill -TERM "$TPID"
else
	kill -TERM "$TPID"
fi
trc=
for _ in $(seq 150); do
	if ! kill -0 "$TPID" 2>/dev/null; then
		wait "$TPID"
		trc=$?
		break
	fi
	sleep 0.1
done
[ -n "$trc" ] || die "$TARGET did not exit within 15 s of SIGTERM"
TPID=
if [ "$TARGET" = osprey ]; then
	[ "$trc" -eq 0 ] || die "iscsi_tgt exited with status $trc on SIGTERM"
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/tgt.log"; then
		die "sanitizer report in the iscsi_tgt log"
	fi
fi
phase "target-stop" "$t"
t=$(ms)
EXP=$TMP/expected.img
truncate -s "${DISK_MB}M" "$EXP"
dd if="$L/ki/pattern.bin" of="$EXP" bs=1M seek="$OFF_MB" conv=notrunc status=none
if [ "$SELFTEST" = host ]; then
	flip_byte "$EXP" $((OFF_MB * 1048576 + 777))
fi
[ "$(stat -c %s "$IMG")" -eq $((DISK_MB * 1048576)) ] || die "the backing file changed size: $(stat -c %s "$IMG") bytes"
if ! cmp "$EXP" "$IMG" > "$TMP/cmp.out" 2>&1; then
	n=$(cmp -l "$EXP" "$IMG" 2>/dev/null | wc -l)
	die "the backing file differs from what the guest wrote: $(cat "$TMP/cmp.out") ($n bytes differ)"
fi
log "backing file matches: pattern at $OFF_MB MiB, zeros elsewhere"
phase "verify" "$t"

log "read latency ($TARGET):"
echo "$LAT"
log "PASS against $TARGET in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit 0

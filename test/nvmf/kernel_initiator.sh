#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end test of nvmf_tgt's NVMe/TCP target with a third-party initiator:
# the Linux kernel's nvme-tcp driver in a QEMU guest (TCG, no KVM needed).
#
#   host: nvmf_tgt, an aio bdev on a file in a temp dir, TCP transport, one
#         subsystem that allows one host NQN, a listener on 127.0.0.1:KI_PORT
#   guest (test/nvmf/guest/ki_test.sh, reaching the host as 10.0.2.2):
#         a wrong host NQN is refused; connect; Identify data as configured;
#         write a random pattern (made by the host for this run) with O_DIRECT,
#         read it back and compare; disconnect; again with header and data
#         digests; the result is an OSPREY-RESULT line on the serial console
#   host: stop nvmf_tgt (it must exit cleanly) and compare the backing file
#         byte for byte with what the guest should have written (zeros
#         elsewhere)
# The guest kernel and initramfs are cached in $OSPREY_GUEST_DIR (build/guest;
# test/common/guest/build.sh, the builder shared by every guest test, downloads
# Debian's kernel package once; test/nvmf/guest/profile says what this guest
# holds).
#
# Env: OSPREY_BIN_DIR   nvmf_tgt's folder (default build/bin)
#      OSPREY_GUEST_DIR guest cache (default build/guest)
#      KI_PORT          first port to try (default 4480; the next free one up to 4499)
#      KI_TIMEOUT       seconds for the guest run (default 300)
#      KI_DIGEST=0      skip the digest connection
#      KI_CPUMASK       nvmf_tgt's -m (default 0x1; 0x3 spreads the guest's
#                       queues over two reactors)
#      KI_SELFTEST=guest|host|allowbad  break one thing on purpose: the test
#                       must then FAIL (guest: the guest compares against a
#                       pattern with one byte changed; host: the host does;
#                       allowbad: the "wrong" host NQN is allowed too)
#      KI_KEEP=1        keep the temp dir (logs, backing file)
#      KI_NO_TARGET=1   harness check: start no target; the guest's connect
#                       must be refused and the test FAIL saying so
#      KI_REFERENCE=1   run the guest steps against the Linux kernel's own
#                       target (nvmet-tcp inside the guest) instead of
#                       nvmf_tgt: tells a harness problem from a target bug
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
# Exit status 0 when everything matched, 1 otherwise.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
TGT=$BIN_DIR/nvmf_tgt
RPC=$ROOT/scripts/rpc.py
TIMEOUT=${KI_TIMEOUT:-300}
GUEST_TIMEOUT=$TIMEOUT
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
DIGEST=${KI_DIGEST:-1}
SELFTEST=${KI_SELFTEST:-}
CPUMASK=${KI_CPUMASK:-0x1}
NS_MB=64		# backing file / namespace size
LEN_MB=4		# pattern size
OFF_MB=1		# where the plain connection writes it
OFF2_MB=40		# where the digest connection writes it
OFF3_MB=20		# 16 single 4 KiB writes (pattern blocks 0-15) at every other block
BS=4096

log() { echo "kernel_initiator: $*"; }
TGT_LABEL=nvmf_tgt
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
ki_skip_without_qemu

ki_tmp osp_ki

ki_need_tools qemu-system-x86_64 cpio gzip timeout
[ -x "$TGT" ] || die "no $TGT: build first (make)"

# ---- 1. the guest (cached) ------------------------------------------------
t=$(ms)
guest_build "$ROOT/test/nvmf/guest/profile" || die "could not build the guest (test/common/guest/build.sh test/nvmf/guest/profile)"
phase "guest-image" "$t"

# ---- 2. the target ----------------------------------------------------------
t=$(ms)
ki_pick_port "${KI_PORT:-4480}" 20
SOCK=$TMP/rpc.sock
SUBNQN=nqn.2016-06.io.osprey:kernel-initiator
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
BADHOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
SERIAL=OSPKI$$
IMG=$TMP/ns.img


start_target() {
	ki_start_daemon "$TGT" -m "$CPUMASK" -r "$SOCK"
	local extra=
	if [ "$SELFTEST" = allowbad ]; then
		extra="nvmf_subsystem_add_host $SUBNQN $BADHOSTNQN"
	fi
	rpc_batch > "$TMP/rpc.out" 2>&1 <<-EOF
		framework_wait_init
		bdev_aio_create $IMG aio0 $BS
		nvmf_create_transport -t tcp
		nvmf_create_subsystem $SUBNQN -s $SERIAL -d 'Osprey kernel initiator test'
		nvmf_subsystem_add_ns $SUBNQN aio0
		nvmf_subsystem_add_host $SUBNQN $HOSTNQN
		$extra
		nvmf_subsystem_add_listener $SUBNQN -t tcp -a 127.0.0.1 -s $PORT
	EOF
	local rc=$?
	cat "$TMP/rpc.out"
	[ $rc -eq 0 ] || die "configuring nvmf_tgt failed: $(tail -1 "$TMP/rpc.out")"
	log "nvmf_tgt -m $CPUMASK (pid $TPID) serves $SUBNQN (aio0: $NS_MB MiB file, $BS-byte blocks) on 127.0.0.1:$PORT for $HOSTNQN"
}

truncate -s "${NS_MB}M" "$IMG"
REFERENCE=${KI_REFERENCE:-0}
if [ "$REFERENCE" = 1 ]; then
	log "KI_REFERENCE=1: the guest serves itself with the Linux nvmet-tcp target; nvmf_tgt is not used"
elif [ "${KI_NO_TARGET:-0}" = 1 ]; then
	log "KI_NO_TARGET=1: no target on 127.0.0.1:$PORT, the guest must fail to connect"
else
	start_target
fi
phase "target-setup" "$t"

# ---- 3. the guest run -------------------------------------------------------
t=$(ms)
L=$TMP/layer
ki_pattern "$L" "$LEN_MB"
install -m 0755 "$ROOT/test/nvmf/guest/ki_test.sh" "$L/ki/test.sh"
cat > "$L/ki/env" <<EOF
KI_PORT=$PORT
KI_SUBNQN=$SUBNQN
KI_HOSTNQN=$HOSTNQN
KI_BADHOSTNQN=$BADHOSTNQN
KI_SERIAL=$SERIAL
KI_NS_BYTES=$((NS_MB * 1048576))
KI_BS=$BS
KI_LEN_MB=$LEN_MB
KI_OFF_MB=$OFF_MB
KI_OFF2_MB=$OFF2_MB
KI_OFF3_MB=$OFF3_MB
KI_DIGEST=$DIGEST
KI_REFERENCE=$REFERENCE
EOF
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
phase "guest-run" "$t"
boot_line=$(grep -m1 'OSPREY-BOOT' "$GUEST_TXT")
[ -n "$boot_line" ] || die "the guest never reached its init (QEMU exit $qrc)"
[ "$qrc" -eq 124 ] && die "QEMU did not finish within ${TIMEOUT}s (timeout)"
[ -z "$TPID" ] || kill -0 "$TPID" 2>/dev/null || die "nvmf_tgt died during the guest run"
result=$(guest_result)
[ -n "$result" ] || die "the guest printed no OSPREY-RESULT line (QEMU exit $qrc)"
case "$result" in
PASS*) log "guest: $result" ;;
*) die "guest: $result" ;;
esac

if [ "$REFERENCE" = 1 ]; then
	log "PASS (reference run against the Linux kernel's target) in $(secs "$T_START" "$(ms)")"
	exit 0
fi

# ---- 4. stop the target, check the backing file ----------------------------
t=$(ms)
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
[ -n "$trc" ] || die "nvmf_tgt did not exit within 15 s of SIGTERM"
TPID=
[ "$trc" -eq 0 ] || die "nvmf_tgt exited with status $trc on SIGTERM"
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/tgt.log"; then
	die "sanitizer report in the nvmf_tgt log"
fi
phase "target-stop" "$t"
t=$(ms)
EXP=$TMP/expected.img
truncate -s "${NS_MB}M" "$EXP"
dd if="$L/ki/pattern.bin" of="$EXP" bs=1M seek="$OFF_MB" conv=notrunc status=none
if [ "$DIGEST" = 1 ]; then
	dd if="$L/ki/pattern.bin" of="$EXP" bs=1M seek="$OFF2_MB" conv=notrunc status=none
fi
for i in $(seq 0 15); do
	dd if="$L/ki/pattern.bin" of="$EXP" bs=4k count=1 skip="$i" seek=$((OFF3_MB * 256 + 2 * i)) \
		conv=notrunc status=none
done
if [ "$SELFTEST" = host ]; then
	flip_byte "$EXP" $((OFF_MB * 1048576 + 777))
fi
[ "$(stat -c %s "$IMG")" -eq $((NS_MB * 1048576)) ] || die "the backing file changed size: $(stat -c %s "$IMG") bytes"
if ! cmp "$EXP" "$IMG" > "$TMP/cmp.out" 2>&1; then
	n=$(cmp -l "$EXP" "$IMG" 2>/dev/null | wc -l)
	die "the backing file differs from what the guest wrote: $(cat "$TMP/cmp.out") ($n bytes differ)"
fi
log "backing file matches: pattern at $OFF_MB MiB$([ "$DIGEST" = 1 ] && echo " and $OFF2_MB MiB"), 4 KiB blocks at $OFF3_MB MiB, zeros elsewhere"
phase "verify" "$t"

RESULT=0
log "PASS in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit $RESULT

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Osprey's NVMe-oF RDMA host driver (lib/nvme/rdma.c) in a QEMU guest with
# soft-RoCE (rdma_rxe on the guest's virtio-net), against the guest kernel's
# own NVMe-oF target (nvmet-rdma and nvmet-tcp over a memory-backed null_blk,
# configured through configfs): an implementation nobody here wrote. Booted
# once (TCG, no KVM needed); the guest's steps are in
# test/nvmf/rdma/guest/rdma_host_test.sh: nvme_identify and nvme_perf -V
# (randrw, 4 KiB qd32 and 128 KiB qd16) over RDMA and over TCP, bdevperf
# (verify, reset) over bdev_nvme_attach_controller -t rdma, then a wrong
# subnqn, a closed port and an unreachable address, which must fail quickly
# with an error naming the step. The guest (kernel + initramfs) is cached in
# $OSPREY_GUEST_DIR (build/guest) by test/common/guest/build.sh with
# test/nvmf/rdma/guest/profile; Osprey's programs come in a per-run layer.
#
# Env: OSPREY_BIN_DIR    Osprey's binaries (default build/bin)
#      OSPREY_GUEST_DIR  guest cache (default build/guest)
#      RDMA_TIMEOUT      seconds for the guest run (default 600)
#      PERF_SECS         seconds of each nvme_perf run (default 3)
#      KI_KEEP=1         keep the temp dir (guest log)
#      RDMA_GUEST_SCRIPT another guest-side script (debugging)
#      RDMA_SELFTEST=nqn the guest expects another subsystem NQN in the
#                        identify output: the test must then FAIL
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
TIMEOUT=${RDMA_TIMEOUT:-600}
GUEST_TIMEOUT=$TIMEOUT
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "nvmf rdma host guest: $*"; }
TGT_LABEL=nvmet
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
ki_skip_without_qemu
if ! grep -q '^CONFIG_RDMA := y' "$ROOT/mk/config.mk" 2>/dev/null; then
	log "SKIP (built without RDMA: configure found no libibverbs/librdmacm)"
	exit 0
fi
ki_tmp osp_rdma_host
ki_need_tools qemu-system-x86_64 cpio gzip strip ldd
for p in nvme_identify nvme_perf bdevperf; do
	[ -x "$BIN_DIR/$p" ] || die "no $BIN_DIR/$p: build first (make)"
done

# ---- 1. the guest (cached) and this run's layer ---------------------------------
t=$(ms)
guest_build "$ROOT/test/nvmf/rdma/guest/profile" ||
	die "could not build the guest (test/common/guest/build.sh test/nvmf/rdma/guest/profile)"
L=$TMP/layer
mkdir -p "$L/ki"
guest_add_programs "$L" osprey/bin "$BIN_DIR/nvme_identify" "$BIN_DIR/nvme_perf" "$BIN_DIR/bdevperf" ||
	die "cannot copy Osprey's programs into the guest layer"
install -m 0755 "${RDMA_GUEST_SCRIPT:-$ROOT/test/nvmf/rdma/guest/rdma_host_test.sh}" "$L/ki/test.sh"
install -m 0644 "$ROOT/test/nvmf/rdma/guest/rdma_lib.sh" "$L/ki/rdma_lib.sh"
cat > "$L/ki/env" <<EOF
PERF_SECS=${PERF_SECS:-3}
EOF
if [ "${RDMA_SELFTEST:-}" = nqn ]; then
	# The guest then looks for an NQN the target does not have.
	sed -i 's/grep -q "\$NQN" \/tmp\/id/grep -q "nqn.2014-08.org.osprey:selftest" \/tmp\/id/' "$L/ki/test.sh"
fi
phase "guest-image" "$t"

# ---- 2. the guest run ------------------------------------------------------------------
t=$(ms)
GUEST_MEM=1280M
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
phase "guest-run" "$t"
ki_guest_passed "$qrc"
grep 'OSPREY-STEP' "$GUEST_TXT" | sed 's/^.*OSPREY-STEP /  /'
log "PASS in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit 0

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Osprey's NVMe-oF RDMA target against the Linux kernel's nvme-rdma initiator,
# over soft-RoCE, in one QEMU guest (TCG, no KVM, no RDMA hardware needed):
# rdma_rxe on the guest's virtio-net interface, nvmf_tgt (RDMA transport,
# malloc bdev) listening on the rxe device's IP, the kernel connecting to it
# through /dev/nvme-fabrics (RoCE loopback inside the guest). The guest side
# (test/nvmf/rdma/guest/tgt_test.sh): connect, dd O_DIRECT pattern write +
# read back + compare (keyed SGL: RDMA READ and WRITE), scattered 4 KiB writes
# (in-capsule data), disconnect, reconnect and verify, nvmf_tgt killed with -9
# under a dd write and restarted (the kernel reconnects, or a fresh connect
# works), clean SIGTERM stop. The guest (kernel + initramfs) is cached in
# $OSPREY_GUEST_DIR (build/guest) by test/common/guest/build.sh with
# test/nvmf/rdma/guest/profile; Osprey's programs come in a per-run layer.
#
# Env: OSPREY_BIN_DIR    Osprey's binaries (default build/bin)
#      OSPREY_GUEST_DIR  guest cache (default build/guest)
#      RDMA_TGT_TIMEOUT  seconds for the guest run (default 480)
#      KI_KEEP=1         keep the temp dir (guest log)
#      SELFTEST=guest    the guest expects other data than it wrote: the test
#                        must then FAIL
#      OSPREY_SKIP_QEMU=1 (or OSPREY_PKGDEP_QEMU=0) skip: no QEMU wanted here
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C

BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
TIMEOUT=${RDMA_TGT_TIMEOUT:-480}
GUEST_TIMEOUT=$TIMEOUT
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "nvmf rdma target guest: $*"; }
TGT_LABEL=nvmf_tgt
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
ki_skip_without_qemu
ki_tmp osp_rdma_tgt
ki_need_tools qemu-system-x86_64 cpio gzip strip ldd
[ -x "$BIN_DIR/nvmf_tgt" ] || die "no $BIN_DIR/nvmf_tgt: build first (make)"

t=$(ms)
guest_build "$ROOT/test/nvmf/rdma/guest/profile" ||
	die "could not build the guest (test/common/guest/build.sh test/nvmf/rdma/guest/profile)"
L=$TMP/layer
mkdir -p "$L/ki"
RPC_UDS=${OSPREY_RPC_UDS:-$ROOT/build/test/nvme/rpc_uds}
[ -x "$RPC_UDS" ] || die "no $RPC_UDS: build first (make)"
guest_add_programs "$L" osprey/bin "$BIN_DIR/nvmf_tgt" "$BIN_DIR/nvme_perf" "$RPC_UDS" ||
	die "cannot copy nvmf_tgt, nvme_perf and rpc_uds into the guest layer"
install -m 0755 "$ROOT/test/nvmf/rdma/guest/tgt_test.sh" "$L/ki/test.sh"
install -m 0644 "$ROOT/test/nvmf/rdma/guest/rdma_lib.sh" "$L/ki/rdma_lib.sh"
# shellcheck disable=SC2034 # read by ki_pattern
SELFTEST=${SELFTEST:-}
ki_pattern "$L" 4
cat > "$L/ki/env" <<EOF2
SUBNQN=nqn.2016-06.io.osprey:rdma-guest
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:7f2c1a0e-3b4d-4c5e-8f60-1a2b3c4d5e6f
PORT=4420
NS_MB=64
OFF_MB=8
OFF2_MB=24
OFF3_MB=40
EOF2
phase "guest-image" "$t"

t=$(ms)
GUEST_MEM=1024M
guest_run "$L" "$TMP/guest.log" "$t"
qrc=$?
phase "guest-run" "$t"
ki_guest_passed "$qrc"
grep 'OSPREY-STEP' "$GUEST_TXT" | sed 's/^.*OSPREY-STEP /  /'
log "PASS in $(secs "$T_START" "$(ms)") (${PHASES[*]/%/;})"
exit 0

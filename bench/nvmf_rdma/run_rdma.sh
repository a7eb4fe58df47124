#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# NVMe-oF over RDMA benchmark, in one QEMU guest (TCG) with soft-RoCE
# (rdma_rxe on the guest's virtio-net): Osprey's nvme_perf against the guest
# kernel's NVMe-oF target (nvmet) over RDMA and, side by side in the same run,
# over TCP; one null_blk namespace (1 GiB, not memory-backed: the transports
# are measured, not a disk). Cases: 4 KiB randread qd32 and 128 KiB sequential
# read qd8. For each: IOPS, MiB/s, the guest's busy CPU time outside nvme_perf
# per I/O (the kernel target plus the soft-RoCE/TCP stack of both sides: an
# upper bound of the target's CPU per I/O) and nvme_perf's own CPU per I/O.
# A table, then one JSON line per case. Osprey's own NVMe-oF RDMA target is not
# in this run yet (lib/nvmf/rdma.c is another branch's work).
#
#   bench/nvmf_rdma/run_rdma.sh [-t SECONDS]      (default 10 s per case)
#   env: OSPREY_BIN_DIR, OSPREY_GUEST_DIR (guest cache, default build/guest)
#
# Under TCG every packet's ICRC and every copy is computed by an emulated CPU:
# absolute figures are low and noisy; the ratios and the per-I/O CPU are what
# count. Runs one guest; stops only what it started.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
export LC_ALL=C
SECS=10
while [ $# -gt 0 ]; do
	case "$1" in
	-t) SECS=$2; shift 2 ;;
	*) echo "usage: $0 [-t SECONDS]" >&2; exit 2 ;;
	esac
done
BIN_DIR=${OSPREY_BIN_DIR:-$ROOT/build/bin}
GUEST_TIMEOUT=$((SECS * 4 * 4 + 300))
# shellcheck source=test/common/guest/guest.sh
. "$ROOT/test/common/guest/guest.sh"
log() { echo "nvmf_rdma bench: $*"; }
TGT_LABEL=nvmet
# shellcheck source=test/common/guest/ki_host.sh
. "$ROOT/test/common/guest/ki_host.sh"
grep -q '^CONFIG_RDMA := y' "$ROOT/mk/config.mk" 2>/dev/null || die "built without RDMA (configure found no libibverbs/librdmacm)"
ki_tmp osp_rdma_bench
ki_need_tools qemu-system-x86_64 cpio gzip strip ldd
[ -x "$BIN_DIR/nvme_perf" ] || die "no $BIN_DIR/nvme_perf: build first (make)"

guest_build "$ROOT/test/nvmf/rdma/guest/profile" || die "could not build the guest"
L=$TMP/layer
mkdir -p "$L/ki"
guest_add_programs "$L" osprey/bin "$BIN_DIR/nvme_perf" || die "cannot copy nvme_perf into the guest layer"
install -m 0755 "$ROOT/bench/nvmf_rdma/guest_bench.sh" "$L/ki/test.sh"
echo "BENCH_SECS=$SECS" > "$L/ki/env"
GUEST_MEM=1280M
guest_run "$L" "$TMP/guest.log" "$(ms)" > /dev/null
[ "$(guest_result)" = PASS ] || die "guest: $(guest_result)"

echo
printf '%-6s %-18s %10s %9s %22s %20s\n' transport case IOPS MiB/s "other CPU us/IO" "nvme_perf us/IO"
grep '^OSPREY-BENCH' "$GUEST_TXT" | while read -r _ t wl sz q iops mibs oc pc; do
	printf '%-6s %-18s %10s %9s %22s %20s\n' "$t" "$wl $sz $q" "$iops" "$mibs" "$oc" "$pc"
done
echo
grep '^OSPREY-BENCH' "$GUEST_TXT" | while read -r _ t wl sz q iops mibs oc pc; do
	printf '{"bench": "nvmf_rdma", "target": "kernel nvmet", "transport": "%s", "workload": "%s", "io_size": %s, "qd": %s, "iops": %s, "mibs": %s, "other_cpu_us_per_io": %s, "perf_cpu_us_per_io": %s}\n' \
		"$t" "$wl" "$sz" "${q#q}" "$iops" "$mibs" "$oc" "$pc"
done

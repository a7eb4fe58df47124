#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Part (1) of the NVMe PCIe benchmark: in the QEMU guest of
# test/nvme/test_pcie_guest.sh (q35, TCG, 2 vCPUs), on the same emulated NVMe
# controller (C0), the guest kernel's nvme driver through io_uring
# (build/test/nvme/uring_perf, O_DIRECT) against Osprey's nvme_perf through
# vfio-pci: 4 KiB randread and randwrite at queue depth 32, alternating, for
# ROUNDS rounds; IOPS and guest CPU per I/O (from the guest's /proc/stat over
# the middle of each run) side by side. The whole guest test runs too (its
# steps are the set-up and must pass).
#
#   bench/nvme_pcie/run_guest.sh [ROUNDS] [SECONDS]     (defaults 3 and 10)
#
# Under TCG the absolute figures are emulation-bound; the ratio and the CPU
# per I/O are what to compare.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}
SECS=${2:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
PCIE_BENCH=$ROUNDS PCIE_BENCH_SECS=$SECS PCIE_TIMEOUT=${PCIE_TIMEOUT:-$((300 + ROUNDS * (4 * SECS + 40)))} \
	"$ROOT/test/nvme/test_pcie_guest.sh" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || { echo "run_guest: the guest run failed (exit $rc)" >&2; exit "$rc"; }
echo
printf '%-18s %-10s %6s %10s %12s %14s\n' tool workload rounds "IOPS avg" "guest CPU %" "CPU us per I/O"
grep -o 'bench: round=.*' "$out" | awk '{
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	k = v["tool"] " " v["w"]; n[k]++; iops[k] += v["iops"]; cpu[k] += v["guest_cpu_pct"]; us[k] += v["cpu_us_per_io"]
} END {
	for (k in n) { split(k, p, " "); printf "%-18s %-10s %6d %10.0f %12.1f %14.1f\n", p[1], p[2], n[k], iops[k] / n[k], cpu[k] / n[k], us[k] / n[k] }
}' | sort -k2,2 -k1,1

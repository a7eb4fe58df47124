#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The NVMe PCIe driver's own cost per I/O, on the simulated controller
# (no device, no guest): 4 KiB reads, submission plus completion.
#
#   bench/nvme_pcie/run.sh [-n IOS] [-q DEPTH] [-j FILE]
#   (defaults: 20000 I/Os at depth 32; env NVME_PCIE_BENCH overrides the binary)
#
# For each of {shadow doorbells, plain doorbells}: the instructions the driver
# executes per I/O, counted by callgrind inside bench_poll()/bench_submit()
# (stable on a noisy, shared machine; the simulator's work is outside them;
# the bench's own completion callback, a few dozen instructions, is inside),
# and the CPU time per I/O of a native run, simulator included. Prints a
# table and one JSON line per result (appended to FILE with -j).
# The goal (issue 10): <= 300 instructions per I/O for the driver's path.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${NVME_PCIE_BENCH:-$ROOT/build/bench/nvme_pcie}
N=20000
QD=32
JSON_OUT=
while [ $# -gt 0 ]; do
	case "$1" in
	-n) N=$2; shift 2 ;;
	-q) QD=$2; shift 2 ;;
	-j) JSON_OUT=$2; shift 2 ;;
	*) echo "usage: $0 [-n IOS] [-q DEPTH] [-j FILE]" >&2; exit 1 ;;
	esac
done
[ -x "$BENCH" ] || { echo "no $BENCH: run make first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-22s %6s %10s %12s %16s\n' "case" "depth" "I/Os" "instr/IO" "cpu ns/IO (+sim)"
rc=0
for mode in dbbuf plain; do
	extra=
	[ "$mode" = plain ] && extra=--no-dbbuf
	if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$mode" \
		--toggle-collect=bench_poll --toggle-collect=bench_submit \
		"$BENCH" -n "$N" -q "$QD" $extra >"$tmp/cg_out.$mode" 2>"$tmp/cg_err.$mode"; then
		echo "callgrind run ($mode) failed:" >&2
		tail -5 "$tmp/cg_err.$mode" >&2
		rc=1
		continue
	fi
	ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$mode" | head -1)
	total=$(sed -n 's/.*"total_ios":\([0-9]*\).*/\1/p' "$tmp/cg_out.$mode")
	"$BENCH" -n $((N * 10)) -q "$QD" $extra >"$tmp/native.$mode" 2>&1 || rc=1
	ns=$(sed -n 's/.*"ns_per_io_with_sim":\([0-9.]*\).*/\1/p' "$tmp/native.$mode")
	ipio=$(awk -v a="$ir" -v b="$total" 'BEGIN { printf "%.1f", a / b }')
	printf '%-22s %6s %10s %12s %16s\n' "4k read $mode" "$QD" "$total" "$ipio" "$ns"
	line="{\"bench\":\"nvme_pcie\",\"case\":\"4k_read_$mode\",\"qd\":$QD,\"ios\":$total,\"instructions_per_io\":$ipio,\"cpu_ns_per_io_with_sim\":$ns,\"goal_instructions_per_io\":300}"
	echo "$line"
	[ -n "$JSON_OUT" ] && echo "$line" >>"$JSON_OUT"
done
exit $rc

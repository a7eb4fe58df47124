#!/usr/bin/env bash
# bdev benchmarks (see bench/bdev/bdev_bench.py): bdevperf 4 KiB randread qd 128 on one
# core on null, malloc, aio and uring bdevs; fio (libaio, io_uring) on the same files;
# the bdev layer's cost against null_direct. Prints a table and JSON lines.
# Environment: T (seconds per run, default 5), RUNS (default 3), FILE_SIZE_MB (1024),
# BUILD (build directory, default build). Not part of make check.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}

make -s -j"${JOBS:-2}" BUILD="$B" libs "$B/bin/bdevperf"

# null_direct must not link lib/bdev (it stands in for it): built by its own script.
bash bench/bdev/null_direct/build.sh "$B" ||
	echo "run_bdev.sh: could not build null_direct: no layer-cost figure" >&2

if ! command -v fio >/dev/null 2>&1; then
	echo "run_bdev.sh: installing fio for the comparison" >&2
	apt-get install -y fio >/dev/null 2>&1 || echo "run_bdev.sh: fio not available: no ratios" >&2
fi

# HUGEPAGES=N reserves N 2 MiB hugepages for the run (machine-wide; restored after):
# malloc's random copies are TLB-bound on 4 KiB pages (measured here: 1.15 M IOPS on
# 4 KiB pages, 1.7 M with hugepages). The env uses hugepages whenever free ones exist.
nr=/proc/sys/vm/nr_hugepages
if [ -n "${HUGEPAGES:-}" ] && [ -w "$nr" ]; then
	old=$(cat "$nr")
	trap 'echo "$old" > "$nr"' EXIT
	echo "$HUGEPAGES" > "$nr"
	echo "run_bdev.sh: $(grep HugePages_Free /proc/meminfo | awk '{print $2}') free hugepages for this run" >&2
fi
OSPREY_BIN_DIR="$B/bin" NULL_DIRECT="$B/bench/null_direct" python3 bench/bdev/bdev_bench.py

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

# null_direct must not link lib/bdev (it stands in for it): built here, not by the Makefile.
mkvar() { make -s --no-print-directory BUILD="$B" --eval 'osp-print-%: ; @echo $($*)' "osp-print-$1"; }
mkdir -p "$B/bench" "$B/obj/bench/bdev/null_direct"
if [ -f "$B/lib/libosp_bdev_null.a" ]; then
	# shellcheck disable=SC2046
	if gcc $(mkvar CFLAGS_COMMON) -Wno-missing-prototypes -c bench/bdev/null_direct/null_direct.c \
		-o "$B/obj/bench/bdev/null_direct/null_direct.o" &&
	   gcc -o "$B/bench/null_direct" "$B/obj/bench/bdev/null_direct/null_direct.o" -L"$B/lib" \
		-Wl,--whole-archive -losp_bdev_null -Wl,--no-whole-archive \
		-Wl,--start-group -losp_util -losp_log -losp_env_dpdk -losp_thread -losp_json \
		-losp_jsonrpc -losp_rpc -Wl,--end-group $(mkvar SYS_LIBS); then
		:
	else
		echo "run_bdev.sh: could not build null_direct: no layer-cost figure" >&2
		rm -f "$B/bench/null_direct"
	fi
else
	echo "run_bdev.sh: no null bdev module ($B/lib/libosp_bdev_null.a)" >&2
fi

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

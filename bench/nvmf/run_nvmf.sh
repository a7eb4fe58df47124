#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# NVMe/TCP benchmark: build/bin/nvmf_tgt -m 0x1 serving a malloc namespace
# (4 KiB blocks) on 127.0.0.1, build/bin/nvme_perf -c 0x2 driving it.
#
#   bench/nvmf/run_nvmf.sh [-n RUNS] [-t SECONDS] [-j FILE] [-m MALLOC_MB]
#                          [--only SUBSTRING] [--polling]
#   (defaults: 3 runs, 10 s each, 128 MiB namespace; env OSPREY_BIN_DIR
#   picks the binaries, NVMF_BENCH_PORT the port, default
#   a free one picked at run time)
#
# Cases: 4 KiB randread and randwrite at queue depth 1, 32 and 128 (IOPS,
# average and p99 latency), 128 KiB sequential read (MiB/s); CPU time per
# I/O of the target (utime+stime of /proc/PID/stat over the run) and of the
# initiator (its rusage). Medians of the runs; a table, then one JSON line
# per case. The reference column is SPDK's published figure (250-425 k IOPS
# per target core, 4 KiB randread qd 32): no NVMe/TCP fio engine is packaged
# here. Needs 2 cores; stops only the processes it started (by PID).
# A smoke run: bench/nvmf/run_nvmf.sh -n 1 -t 2
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/nvmf/run_nvmf.py "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# NVMe/TCP benchmark: build/bin/nvmf_tgt -m 0x1 serving a malloc namespace
# (4 KiB blocks) on 127.0.0.1, build/bin/nvme_perf -c 0x2 driving it.
#
#   bench/nvmf/run_nvmf.sh [-n ROUNDS] [-t SECONDS] [-j FILE] [-m MALLOC_MB]
#                          [--only SUBSTRING] [--all] [--polling]
#                          [--compare OTHER_BIN_DIR] [--zcopy-compare BYTES]
#                          [--no-perf-stat]
#   (defaults: 3 rounds, 10 s each, 128 MiB namespace; env OSPREY_BIN_DIR
#   picks the binaries, NVMF_BENCH_PORT the port, default a free one
#   picked at run time)
#
# Cases (issue 12's): 4 KiB randread qd 32, randwrite qd 32, randread qd 128,
# 128 KiB sequential read qd 16 (--all adds qd 1, randwrite qd 128 and
# 128 KiB qd 32). Per case: IOPS, latency, and for each side CPU cycles and
# system calls per I/O (perf stat -p on nvmf_tgt, perf stat around
# nvme_perf, divided by the I/Os; without hardware counters, as in this VM,
# "~cycles" = task-clock x the nominal clock). Median and range over the
# rounds. --compare runs a second build (e.g. main's) in alternating rounds,
# both targets up for the whole run. No NVMe/TCP peer runs here (see
# run_nvmf.py's header); the reference column is SPDK's published figure.
# Needs 2 cores and perf; stops only the processes it started (by PID).
# A smoke run: bench/nvmf/run_nvmf.sh -n 1 -t 2
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/nvmf/run_nvmf.py "$@"

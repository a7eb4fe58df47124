#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# iSCSI benchmark: build/bin/iscsi_tgt -m 0x1 (malloc bdev, 4 KiB blocks)
# and Debian's tgtd under taskset -c 0 (rdwr backing store on a tmpfs file,
# 4 KiB blocks), side by side in one run; libiscsi's iscsi-perf under
# taskset -c 1 drives them over 127.0.0.1.
#
#   bench/iscsi/run_iscsi.sh [-n ROUNDS] [-t SECONDS] [-i IDLE_SECONDS]
#                            [-j FILE] [-s LUN_MB] [--only SUBSTRING]
#                            [--tgtd-bs rdwr|null] [--no-tgtd] [--quick]
#                            [--port FIRST_PORT]
#   (defaults: 5 rounds, 10 s per run, 5 s idle, 256 MiB LUNs; env
#   OSPREY_BIN_DIR picks the binaries, ISCSI_BENCH_PORT the first of two
#   ports, default free ones picked at run time)
#
# Cases: 4 KiB random read qd 32 and 128 KiB sequential read qd 32, with one
# iscsi-perf and with two at once. Each round runs every case on both targets,
# the target order alternating by round; medians and [min-max] over the
# rounds of IOPS, MiB/s, the target's CPU time per I/O (utime+stime of
# /proc/PID/stat, all threads) and the share of a core used by the target and
# by the clients; the ratio Osprey/tgtd; the idle cost of each target with a
# session logged in. A table, then one JSON line per result.
# Needs 2 cores and the packages libiscsi-bin and tgt (scripts/pkgdep.sh).
# Stops only the processes it started (by PID).
# A smoke run (about 15 s): bench/iscsi/run_iscsi.sh --quick
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/iscsi/run_iscsi.py "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-user-blk benchmark: build/bin/vhost -m 0x1 (null bdev) and
# qemu-storage-daemon under taskset -c 0 (null-co exported as vhost-user-blk),
# side by side in one run; Osprey's bdevperf -m 0x2 drives them through its
# vhost-user front end (bdev_virtio_attach_controller -t user -d blk).
#
#   bench/vhost/run_vhost.sh [-n ROUNDS] [-t SECONDS] [-q QD] [-o IO_SIZE]
#                            [--vq-size N] [-s SIZE_MB] [-j FILE]
#                            [--no-qsd] [--qsd-iothread] [--quick]
#   (defaults: 5 rounds, 10 s per run, 4 KiB randread at queue depth 64,
#   1 GiB null devices; env OSPREY_BIN_DIR picks the binaries, QSD the
#   qemu-storage-daemon binary)
#
# Each round runs bdevperf against both targets, the order alternating by
# round; medians and [min-max] of IOPS, average latency, the target's CPU
# time per I/O (/proc/PID/stat utime+stime over the run / I/Os), the share of
# a core the target used, bdevperf's CPU per I/O; the ratio Osprey/QSD. A
# table, then one JSON line per result.
# Needs 2 cores and qemu-system-common's qemu-storage-daemon (scripts/pkgdep.sh).
# Stops only the processes it started (by PID).
# A smoke run (about 15 s): bench/vhost/run_vhost.sh --quick
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/vhost/run_vhost.py "$@"

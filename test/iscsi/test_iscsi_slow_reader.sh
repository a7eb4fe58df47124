#!/usr/bin/env bash
# A slow initiator (4 KiB receive buffer, a few MB/s) reads 1 MiB at a time
# from osprey_tgt's iSCSI target: no read may stall (see the .py).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 300 python3 test/iscsi/test_iscsi_slow_reader.py

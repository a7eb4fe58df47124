#!/usr/bin/env bash
# End-to-end test of the NVMe bdev module: bdevperf attaches to nvmf_tgt over
# NVMe/TCP (127.0.0.1, ports picked free at run time); see test_bdev_nvme.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/nvmf/test_bdev_nvme.py

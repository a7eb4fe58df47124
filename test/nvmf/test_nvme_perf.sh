#!/usr/bin/env bash
# End-to-end test of nvme_perf (NVMe/TCP initiator tool) against nvmf_tgt on
# 127.0.0.1 ports picked free at run time; see test_nvme_perf.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/nvmf/test_nvme_perf.py

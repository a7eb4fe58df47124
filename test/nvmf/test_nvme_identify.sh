#!/usr/bin/env bash
# End-to-end test of the NVMe/TCP host driver (lib/nvme) with app/nvme_identify
# against osprey_tgt's NVMe-oF TCP target; see test_nvme_identify.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/nvmf/test_nvme_identify.py

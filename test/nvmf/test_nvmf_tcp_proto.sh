#!/usr/bin/env bash
# Black-box NVMe/TCP conformance and robustness test of nvmf_tgt, written
# from the specs (raw PDUs from Python); see test_nvmf_tcp_proto.py.
# OSPREY_BIN_DIR picks the binaries (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
# the client's own encoding checks (CRC32C vectors, PDU layouts) first
python3 test/nvmf/nvme_tcp_client.py >/dev/null || { python3 test/nvmf/nvme_tcp_client.py; exit 1; }
exec timeout 300 python3 test/nvmf/test_nvmf_tcp_proto.py

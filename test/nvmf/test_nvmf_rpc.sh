#!/usr/bin/env bash
# End-to-end test of the NVMe-oF target's control plane (subsystems,
# namespaces, hosts, listeners, transports, save_config) on osprey_tgt;
# see test_nvmf_rpc.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/nvmf/test_nvmf_rpc.py

#!/usr/bin/env bash
# SPDK spdk_nvme_perf compatibility of nvme_perf's -r keys and options, each
# replayed against nvmf_tgt on 127.0.0.1; see test_nvme_perf_opts.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 600 python3 test/nvmf/test_nvme_perf_opts.py

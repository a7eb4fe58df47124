#!/usr/bin/env bash
# End-to-end test of the daemon spine (osprey_tgt + rpc.py + raw JSON-RPC).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 test/app/framework_e2e.py
